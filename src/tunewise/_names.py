"""Short model names for reports.

``gpt-4o-mini`` for ``openai:gpt-4o-mini``, and
``SmolLM2-135M-Instruct.Q4_1 + LoRA (ftjob-…cd34)`` for
``local:/home/me/.tunewise/local/models/SmolLM2-135M-Instruct.Q4_1-<sha>+/…/jobs/ftjob-…/adapter``.

A pure function of the reference text (nothing is read from disk), so a report reads the same on
any machine. The full reference stays beside it (a title attribute, the rung details).
"""

from __future__ import annotations

import re

MAX_CHARS = 60
"""Longest short name; a longer one keeps its start and end around an ellipsis."""

_GENERIC = {"model", "models", "base", "weights", "final", "merged", "output", "hf", "adapter", "lora", "checkpoint"}
"""Folder names that say nothing on their own: the parent folder's name goes with them."""

_DIGEST = re.compile(r"-[0-9a-f]{16}$")
"""The ``-<16 hex>`` that the local plugin appends to a dequantized GGUF file's folder."""
_LOCAL_JOB = re.compile(r"^(ftjob)-\d{8}-\d{6}-([0-9a-f]{8})(?:-.+)?$")
"""A local fine-tune job id: ``ftjob-YYYYmmdd-HHMMSS-<8 hex>[-suffix]``."""
_SNAPSHOT = re.compile(r"^[0-9a-f]{40}$")


def short_job_id(job_id: str) -> str:
    """``ftjob-…cd34`` for a long job id; a short one (``ftjob-0001``) as it is."""
    local = _LOCAL_JOB.match(job_id)
    if local:
        return f"{local.group(1)}-…{local.group(2)[-4:]}"
    if len(job_id) <= 16:
        return job_id
    head, dash, _ = job_id.partition("-")
    start = head + dash if dash and len(head) <= 8 else job_id[:6]
    return f"{start}…{job_id[-4:]}"


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"[/\\]+", path) if p and p not in (".", "~")]


def _job_in(parts: list[str]) -> str | None:
    return next((p for p in reversed(parts) if p.startswith(("ftjob-", "ftjob_", "job-"))), None)


def _path_name(path: str) -> str:
    """A model folder or file as a name: its own name, made readable."""
    parts = _parts(path)
    if not parts:
        return path
    if "snapshots" in parts:  # .../models--org--name/snapshots/<sha>
        index = parts.index("snapshots")
        if index > 0 and parts[index - 1].startswith("models--"):
            return _hf_cache_name(parts[index - 1])
    leaf = parts[-1]
    if leaf.startswith("models--"):
        return _hf_cache_name(leaf)
    if _SNAPSHOT.match(leaf) and len(parts) > 1:
        leaf = parts[-2]
    if leaf.lower().endswith(".gguf"):
        return leaf[: -len(".gguf")]
    leaf = _DIGEST.sub("", leaf)
    if leaf.lower() in _GENERIC and len(parts) > 1 and not parts[-2].startswith("ftjob-"):
        return f"{parts[-2]}/{leaf}"
    return leaf


def _hf_cache_name(folder: str) -> str:
    """``models--org--name`` -> ``org/name``."""
    return "/".join(folder[len("models--") :].split("--"))


def _fine_tuned(name: str) -> tuple[str, str | None] | None:
    """``ft:BASE:ORG[:SUFFIX]:ID`` (OpenAI's fine-tuned names) -> (BASE, SUFFIX-and-ID); else ``None``."""
    if not name.startswith("ft:"):
        return None
    parts = name.split(":")
    if len(parts) < 3 or not parts[1]:
        return None
    base = parts[1]
    tail = [p for p in parts[3:] if p]
    return base, ", ".join(tail) or None


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "~", ".", "\\")) or bool(re.match(r"^[A-Za-z]:[\\/]", name)) or name.count("/") > 1


def _base_name(name: str) -> str:
    found = _fine_tuned(name)
    if found is not None:
        base, which = found
        return f"{base} fine-tuned" + (f" ({_short_tail(which)})" if which else "")
    if _looks_like_path(name):
        parts = _parts(name)
        job = _job_in(parts)
        if job is not None and parts[-1] != job and parts[-1].lower() in _GENERIC:  # a full fine-tune's output
            return f"fine-tuned ({short_job_id(job)})"
        return _path_name(name)
    return name


def _short_tail(text: str) -> str:
    return ", ".join(short_job_id(w) for w in text.split(", "))


def _adapter_name(adapter: str) -> str:
    parts = _parts(adapter)
    job = _job_in(parts)
    if job is not None:
        return f"LoRA ({short_job_id(job)})"
    return f"adapter {_path_name(adapter)}"


def _ellipsize(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3 :]


def short_model_name(ref: str, *, width: int = MAX_CHARS) -> str:
    """A model reference as a reader wants to see it in a table cell.

    The provider prefix is dropped (``openai:gpt-4o-mini`` -> ``gpt-4o-mini``); a local path keeps
    its last folder or file name (a GGUF file without ``.gguf``, a dequantized folder without its
    digest, ``org/name`` for a Hugging Face cache folder, the parent for a generic ``model`` folder);
    an adapter becomes ``+ LoRA (job)`` when it lies in a fine-tune job's folder, ``+ adapter NAME``
    otherwise; OpenAI's ``ft:BASE:ORG:SUFFIX:ID`` becomes ``BASE fine-tuned (SUFFIX ID)``; long job ids
    are cut to ``ftjob-…cd34``. Anything longer than ``width`` keeps its ends around an ellipsis.
    """
    text = " ".join(str(ref).split())
    prefix, colon, rest = text.partition(":")
    if colon and re.fullmatch(r"[a-z][a-z0-9_\-]*", prefix) and rest:
        text = rest
    base, plus, adapter = text.partition("+")  # as ModelRef reads it: the adapter follows the first '+'
    name = _base_name(base)
    if plus and adapter:
        name = f"{name} + {_adapter_name(adapter)}"
    return _ellipsize(name, width)

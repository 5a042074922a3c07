"""OpenAI's BPE encodings, shipped inside the package so token counts work offline.

``tiktoken.get_encoding`` downloads its files on first use, which fails on air-gapped
machines. tunewise ships ``cl100k_base`` and ``o200k_base`` as package data, checks
their sha256 (the ``expected_hash`` from tiktoken's own ``tiktoken_ext/openai_public.py``)
on load, and builds `tiktoken.Encoding` with the same split pattern and special
tokens tiktoken uses.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from importlib import resources
from typing import TYPE_CHECKING

from tunewise._errors import ConfigError, DataError

if TYPE_CHECKING:
    import tiktoken

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501 (verbatim from tiktoken_ext)
_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

#: name -> (sha256 of the shipped file, split pattern, special tokens)
ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
}

_cache: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def encoding_for_model(model: str) -> str:
    """The encoding an OpenAI model uses: ``o200k_base`` for gpt-4o, gpt-4.1, gpt-5 and o-series, else ``cl100k_base``.

    Accepts provider references and fine-tuned names (``openai:ft:gpt-4o-mini-...``).
    """
    name = model.split(":", 1)[1] if model.startswith("openai:") else model
    if name.startswith("ft:"):
        name = name[3:]
    if name.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4")):
        return "o200k_base"
    if name.startswith(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada-002")):
        return "cl100k_base"
    raise ConfigError(
        f"no known tiktoken encoding for model {model!r}; pass encoding='o200k_base' or 'cl100k_base', "
        "or a Hugging Face tokenizer directory for local models"
    )


def _read_ranks(name: str, expected_sha256: str) -> dict[bytes, int]:
    blob = resources.files("tunewise.data").joinpath("encodings", f"{name}.tiktoken").read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected_sha256:
        raise DataError(f"sha256 {digest} does not match the expected {expected_sha256}", path=f"{name}.tiktoken")
    ranks = {}
    for line in blob.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_encoding(name: str) -> tiktoken.Encoding:
    """A shipped tiktoken encoding by name (``cl100k_base`` or ``o200k_base``), loaded once per process."""
    if name not in ENCODINGS:
        raise ConfigError(f"unknown encoding {name!r}; shipped encodings: {', '.join(sorted(ENCODINGS))}")
    with _lock:
        if name not in _cache:
            import tiktoken

            expected, pattern, special = ENCODINGS[name]
            _cache[name] = tiktoken.Encoding(
                name=name, pat_str=pattern, mergeable_ranks=_read_ranks(name, expected), special_tokens=special
            )
        return _cache[name]

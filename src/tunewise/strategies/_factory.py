"""Strategies from configuration: plain dicts, or ``[[strategies]]`` tables of a TOML file.

The eval CLI and the ladder build strategies here, so a typo in a config is a one-line
[`ConfigError`][tunewise.ConfigError] naming the strategy and the key, never a silent default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._config_error import read_toml
from tunewise._errors import ConfigError
from tunewise._jsonl import iter_jsonl_objects
from tunewise.retrieval import InMemoryRetriever, build_embedder, parse_embedder_spec

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.retriever import Retriever
    from tunewise.interfaces.strategy import Strategy

REQUEST_OPTIONS = frozenset({"temperature", "top_p", "max_tokens", "stop", "seed", "extra"})
"""Request fields a strategy config may set; they are sent with every request."""


class BuildContext:
    """What builders need besides the spec: the registry, named retrievers and embedders, a base folder."""

    def __init__(
        self,
        registry: Registry | None = None,
        retrievers: Mapping[str, Retriever] | None = None,
        embedders: Mapping[str, Embedder] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.registry = registry
        self.retrievers = dict(retrievers or {})
        self.embedders = dict(embedders or {})
        self.base_dir = base_dir or Path.cwd()

    def path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def embedder(self, value: Any, where: str) -> Embedder:
        """The embedder a config value names.

        ``"hashing"`` or ``"hashing-N"``, a name given in ``embedders``, ``"sentence-transformers:MODEL"``
        (offline MiniLM, needs ``tunewise[rag]``), or ``"PREFIX:MODEL"`` served by that provider (see
        ``build_embedder``).
        """
        if isinstance(value, str) and value in self.embedders:
            return self.embedders[value]
        try:
            parse_embedder_spec(value)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return build_embedder(value, registry=self._registry)  # a provider's errors stay its own

    def _registry(self) -> Registry:
        if self.registry is None:
            from tunewise._registry import Registry

            self.registry = Registry()
        return self.registry

    def retriever(self, value: Any, where: str) -> Retriever:
        """A name given in ``retrievers``, or a table ``{type = KIND, ...}`` of a registered kind.

        ``memory`` is built in: ``{type = "memory", documents = FILE.jsonl, embedder = ...}``.
        """
        if isinstance(value, str):
            if value not in self.retrievers:
                known = ", ".join(sorted(self.retrievers)) or "none"
                raise ConfigError(f"{where}: unknown retriever {value!r} (known: {known})")
            return self.retrievers[value]
        if isinstance(value, Mapping):
            spec = dict(value)
            kind = spec.pop("type", "memory")
            if kind not in _RETRIEVER_BUILDERS:
                kinds = ", ".join(sorted(_RETRIEVER_BUILDERS))
                raise ConfigError(f"{where}: retriever type must be one of {kinds}, got {kind!r}")
            return _RETRIEVER_BUILDERS[kind](spec, self, where)
        raise ConfigError(f"{where}: retriever must be a name or a {{type = ..., ...}} table")


RetrieverBuilder = Callable[[dict[str, Any], "BuildContext", str], "Retriever"]
_RETRIEVER_BUILDERS: dict[str, RetrieverBuilder] = {}


def register_retriever(kind: str, builder: RetrieverBuilder) -> None:
    """Make ``retriever = {type = kind, ...}`` buildable.

    ``builder(spec, context, where)`` gets the table minus ``type`` (e.g. ``tunewise.retrieval``
    registers its Chroma, BM25 and hybrid retrievers).
    """
    _RETRIEVER_BUILDERS[kind] = builder


def _memory_retriever(spec: dict[str, Any], ctx: BuildContext, where: str) -> Retriever:
    unknown = set(spec) - {"documents", "embedder", "name"}
    if unknown:
        raise ConfigError(f"{where}: memory retriever has unknown keys {sorted(unknown)}")
    if "documents" not in spec:
        raise ConfigError(f"{where}: memory retriever needs documents (a JSONL file)")
    docs = read_jsonl(ctx.path(str(spec["documents"])))
    embedder = ctx.embedder(spec.get("embedder", "hashing"), where)
    return InMemoryRetriever(docs, embedder, name=str(spec.get("name", "memory")))


register_retriever("memory", _memory_retriever)

_INDEX_KEYS = {"location", "collection", "mode", "embedder", "fusion", "rrf_k", "weights", "refresh_every"}
INDEX_REFRESH_EVERY = 10.0
"""Seconds between checks for other processes' changes to an index retriever built from config."""


def _refresh_every(value: Any, where: str) -> float | None:
    if value is False:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: refresh_every must be a number of seconds (0 or more) or false, got {value!r}")
    return float(value)


def _index_retriever(spec: dict[str, Any], ctx: BuildContext, where: str) -> Retriever:
    """An existing ``tunewise.retrieval.Index`` (built with ``tunewise index add``) as a retriever.

    The spec is ``{type = "index", location = "kb-index", collection = "kb", mode = "hybrid"}``;
    ``location`` is an embedded folder or a Chroma server URL.

    ``refresh_every`` (seconds, default 10; ``false`` to turn off) makes a long-lived process
    (``tunewise serve``) pick up what ``tunewise index add`` writes meanwhile.
    """
    from tunewise.retrieval import Index

    unknown = set(spec) - _INDEX_KEYS
    if unknown:
        raise ConfigError(f"{where}: index retriever has unknown keys {sorted(unknown)}; known: {sorted(_INDEX_KEYS)}")
    location = str(spec.get("location", "")) or None
    if location is not None and not location.startswith(("http://", "https://")):
        location = str(ctx.path(location))
    mode = spec.get("mode", "hybrid")
    if mode not in ("hybrid", "dense", "bm25"):
        raise ConfigError(f"{where}: mode must be hybrid, dense or bm25, not {mode!r}")
    refresh_every = _refresh_every(spec.get("refresh_every", INDEX_REFRESH_EVERY), where)
    index = Index.open(
        location, str(spec.get("collection", "default")), embedder=spec.get("embedder"), refresh_every=refresh_every
    )
    options: dict[str, Any] = {k: spec[k] for k in ("fusion", "rrf_k", "weights") if k in spec}
    return index.retriever(mode, **options)


register_retriever("index", _index_retriever)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Objects from a JSONL file; a bad line is a DataError naming file and line."""
    return [row for _, row in iter_jsonl_objects(path)]


Builder = Callable[[dict[str, Any], BuildContext, str], "Strategy"]
_BUILDERS: dict[str, Builder] = {}


def register_strategy(kind: str, builder: Builder) -> None:
    """Make ``type = kind`` buildable from config; ``builder(spec, context, where)`` gets the spec minus ``type``."""
    _BUILDERS[kind] = builder


def strategy_kinds() -> list[str]:
    return sorted(_BUILDERS)


def build_strategy(
    spec: Mapping[str, Any],
    *,
    registry: Registry | None = None,
    retrievers: Mapping[str, Retriever] | None = None,
    embedders: Mapping[str, Embedder] | None = None,
    base_dir: str | Path | None = None,
    context: BuildContext | None = None,
) -> Strategy:
    """A strategy from a dict such as ``{"type": "few_shot", "model": "openai:gpt-4o-mini", "examples": [...]}``.

    Keys are the strategy's constructor arguments, plus the request options in
    `REQUEST_OPTIONS`. ``examples_file``/``documents`` paths are relative to ``base_dir``.
    """
    ctx = context or BuildContext(registry, retrievers, embedders, Path(base_dir) if base_dir else None)
    data = dict(spec)
    kind = data.pop("type", None)
    where = f"strategy {data.get('name') or kind!r}"
    if not isinstance(kind, str) or kind not in _BUILDERS:
        raise ConfigError(f"{where}: type must be one of {', '.join(strategy_kinds())}, got {kind!r}")
    return _BUILDERS[kind](data, ctx, where)


def build_strategies(specs: list[Mapping[str, Any]], **kwargs: Any) -> list[Strategy]:
    """Several strategies; names must be unique (they key the run store)."""
    strategies = [build_strategy(spec, **kwargs) for spec in specs]
    names = [s.name for s in strategies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"strategy names must be unique; repeated: {', '.join(duplicates)}")
    return strategies


def load_strategies(path: str | Path, **kwargs: Any) -> list[Strategy]:
    """Strategies from the ``[[strategies]]`` tables of a TOML file."""
    file = Path(path)
    data = read_toml(file)
    specs = data.get("strategies")
    if not isinstance(specs, list) or not specs:
        raise ConfigError(f"{file}: needs at least one [[strategies]] table")
    kwargs.setdefault("base_dir", file.parent)
    return build_strategies(specs, **kwargs)


def _constructor(cls: type[Any], needs: dict[str, Callable[[Any, BuildContext, str], Any]]) -> Builder:
    """A builder that checks keys against ``cls``'s signature and converts the ones in ``needs``."""
    parameters = inspect.signature(cls.__init__).parameters
    accepted = {n for n, p in parameters.items() if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD}
    accepted -= {"self", "registry"}

    def build(spec: dict[str, Any], ctx: BuildContext, where: str) -> Strategy:
        unknown = set(spec) - accepted - REQUEST_OPTIONS
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(accepted | REQUEST_OPTIONS)}")
        missing = [n for n, p in parameters.items() if n in accepted and p.default is p.empty and n not in spec]
        if missing:
            raise ConfigError(f"{where}: missing required keys {missing}")
        kwargs = dict(spec)
        for key, convert in needs.items():
            if key in kwargs:
                kwargs[key] = convert(kwargs[key], ctx, where)
        extra = kwargs.pop("extra", None) or {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"{where}: extra must be a table")
        try:
            if extra:
                kwargs["extra_body"] = dict(extra)
            strategy: Strategy = cls(registry=ctx.registry, **kwargs)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return strategy

    return build


def _examples(value: Any, ctx: BuildContext, where: str) -> Any:
    if isinstance(value, str):
        return read_jsonl(ctx.path(value))
    if not isinstance(value, list):
        raise ConfigError(f"{where}: examples must be a list of tables or a JSONL file name")
    return value


def _register_builtins() -> None:
    from tunewise.strategies._fewshot import FewShot
    from tunewise.strategies._prompting import ChainOfThought, FineTuned, SystemPrompt, ZeroShot
    from tunewise.strategies._rag import RAG, RagFineTuned

    def embedder(v: Any, c: BuildContext, w: str) -> Any:
        return c.embedder(v, w)

    def retriever(v: Any, c: BuildContext, w: str) -> Any:
        return c.retriever(v, w)

    register_strategy("zero_shot", _constructor(ZeroShot, {}))
    register_strategy("system_prompt", _constructor(SystemPrompt, {}))
    register_strategy("fine_tuned", _constructor(FineTuned, {}))
    register_strategy("chain_of_thought", _constructor(ChainOfThought, {}))
    register_strategy("few_shot", _constructor(FewShot, {"examples": _examples, "embedder": embedder}))
    register_strategy("rag", _constructor(RAG, {"retriever": retriever}))
    register_strategy("rag_fine_tuned", _constructor(RagFineTuned, {"retriever": retriever}))


_register_builtins()

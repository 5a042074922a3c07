"""``tunewise eval run CONFIG``: an evaluation described in TOML.

```toml
cases = "cases.jsonl"           # JSONL or CSV, relative to this file
store = "runs.sqlite"           # default: runs.sqlite in TUNEWISE_HOME
run_id = "support-v1"           # default: a fingerprint of the config (re-running resumes)
concurrency = 8
timeout = 60                    # seconds per case
budget = 5.0                    # dollars this invocation may spend (prices from the catalog)
cache = "cache.sqlite"          # optional response cache; off when absent
metrics = ["exact_match", "token_f1", {type = "regex", pattern = "refund"}]
group_by = "kind"               # reports show every figure per metadata.kind too (not part of the run id)
prices = {"openai:gpt-4o-mini" = {input = 0.15, output = 0.60}}  # over the price catalog; or cost = "module:function"

[[strategies]]
type = "zero_shot"
model = "openai:gpt-4o-mini"
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tunewise._config_error import config_error, read_toml
from tunewise._errors import ConfigError
from tunewise._types import Usage

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.evaluation._cache import ResponseCache
    from tunewise.evaluation._metrics import Metric
    from tunewise.evaluation._runner import CostFunction
    from tunewise.interfaces.strategy import Strategy


class EvalFile(BaseModel):
    """The keys of an evaluation TOML file, checked: types, ranges, required keys, no unknown key.

    Strict: ``concurrency = 8.0``, ``budget = "5"`` or ``timeout = true`` are errors, not conversions, and no
    budget or timeout may be ``inf`` or ``nan`` (TOML reads both). Paths stay as written; `load_config()`
    resolves them against the file's folder.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    cases: str = Field(min_length=1)
    """The cases file (JSONL or CSV)."""
    store: str | None = Field(default=None, min_length=1)
    """The run store; default: ``runs.sqlite`` in ``TUNEWISE_HOME``."""
    run_id: str | None = Field(default=None, min_length=1)
    concurrency: int = Field(default=8, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    """Seconds per case."""
    retries: int = Field(default=2, ge=0)
    """Deprecated and ignored: retries live in the provider."""
    budget: float | None = Field(default=None, gt=0)
    """Dollars this invocation may spend."""
    cache: str | None = Field(default=None, min_length=1)
    metrics: list[Any] = Field(default_factory=lambda: ["exact_match"], min_length=1)
    """Metric names or ``{type = ...}`` tables (checked by `as_metric()`)."""
    group_by: str | None = Field(default=None, min_length=1)
    """A case metadata key the reports split results by."""
    prices: dict[str, dict[str, Any]] | None = None
    cost: str | None = Field(default=None, min_length=1)
    """A cost function as ``module:function``."""
    strategies: list[dict[str, Any]] = Field(min_length=1)
    retrievers: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_price_source(self) -> EvalFile:
        if self.prices is not None and self.cost is not None:
            raise ValueError("give prices or cost, not both")
        return self


_KEYS = frozenset(EvalFile.model_fields)
_HINTS = {
    "cases": "give cases = 'FILE.jsonl'",
    "strategies": "needs at least one [[strategies]] table",
    "retrievers": "must be a table of name = {type = 'memory', ...}",
}
"""What to write instead, for a key that is missing, empty or of the wrong kind."""


class PriceTable:
    """The price catalog (shipped prices and settings) with a config's ``prices`` laid over it: one price mechanism.

    ``prices`` is ``{model_ref: {input, output, cached_input, ...}}`` in dollars per million
    tokens, the same tables as ``[prices]`` in ``tunewise.toml``: a key naming a catalog
    entry changes only the fields given, any other key adds an entry. Unknown models and
    unknown token counts give ``None`` (unknown, with a warning), never 0.
    """

    def __init__(self, prices: Mapping[str, Mapping[str, Any]], *, where: str = "prices") -> None:
        from tunewise.costs import default_catalog

        self.prices = {ref: dict(p) for ref, p in prices.items()}
        self.catalog = default_catalog().with_overrides(self.prices, where=where)

    def __call__(self, model_ref: str, usage: Usage, *, batch: bool = False) -> float | None:
        """Dollars for ``usage`` on ``model_ref``; ``batch`` applies the batch discount (unknown without one)."""
        from tunewise.costs import cost_of

        return cost_of(model_ref, usage, batch=batch, catalog=self.catalog)


@dataclass
class EvalConfig:
    """A parsed evaluation config, ready to run."""

    path: Path
    raw: dict[str, Any]
    cases: Path
    store: Path
    run_id: str | None
    concurrency: int
    timeout: float | None
    cache: Path | None
    retries: int = 2
    budget: float | None = None
    group_by: str | None = None
    """A case metadata key (``kind``) the reports split results by."""
    strategies: list[Strategy] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    cost: CostFunction | None = None
    file: EvalFile | None = None
    """The checked keys of the file, as written (paths unresolved)."""

    def open_cache(self) -> ResponseCache | None:
        from tunewise.evaluation._cache import ResponseCache

        return ResponseCache(self.cache) if self.cache is not None else None


def load_config(path: str | Path, *, registry: Registry | None = None) -> EvalConfig:
    """Read and check an evaluation TOML file; every problem is a one-line ConfigError naming the file and key."""
    from tunewise.evaluation._metrics import as_metric
    from tunewise.strategies import BuildContext, build_strategies

    file = Path(path)
    raw = read_toml(file)
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    try:
        checked = EvalFile.model_validate(raw)
    except ValidationError as exc:
        raise _file_error(file, exc) from None
    base = file.parent

    def rel(value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    if checked.store is not None:
        store = rel(checked.store)
    else:
        from tunewise._settings import load_settings

        store = load_settings().home / "runs.sqlite"
    context = BuildContext(registry=registry, base_dir=base)
    context.retrievers = {
        name: context.retriever(spec, f"{file}: retrievers.{name}") for name, spec in checked.retrievers.items()
    }
    try:
        strategies = build_strategies(raw["strategies"], context=context)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    metrics: list[Metric] = []
    for index, spec in enumerate(checked.metrics):
        try:
            metrics.append(as_metric(spec, registry=context.registry))
        except ConfigError as exc:
            raise ConfigError(f"{file}: metrics[{index}]: {exc}") from None
    cost: CostFunction | None = None
    if checked.prices is not None:
        cost = PriceTable(checked.prices, where=str(file))
    elif checked.cost is not None:
        from tunewise.evaluation._metrics import _import

        cost = _import(checked.cost, f"{file}: cost")  # type: ignore[assignment]
    if cost is None:  # the catalog: shipped prices plus the settings' [prices]
        from tunewise.costs import cost_of

        cost = cost_of
    return EvalConfig(
        path=file,
        raw=raw,
        cases=rel(checked.cases),
        store=store,
        run_id=checked.run_id,
        concurrency=checked.concurrency,
        timeout=checked.timeout,
        cache=rel(checked.cache) if checked.cache is not None else None,
        retries=checked.retries,
        budget=checked.budget,
        group_by=checked.group_by,
        strategies=strategies,
        metrics=metrics,
        cost=cost,
        file=checked,
    )


def _file_error(file: Path, exc: ValidationError) -> ConfigError:
    """The first problem of ``exc`` as ``FILE: key: message``: the config-error helper's line, naming the file."""
    first = exc.errors()[0]
    key = str(first["loc"][0]) if first["loc"] else ""
    if key in _HINTS and len(first["loc"]) == 1 and first["type"] in ("missing", "too_short", "list_type", "dict_type"):
        return ConfigError(f"{file}: {key}: {_HINTS[key]}")
    line = str(config_error(exc, "")).replace("Value error, ", "")
    return ConfigError(f"{file}: {line}")

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

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError
from tunewise._types import Usage

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.evaluation._cache import ResponseCache
    from tunewise.evaluation._metrics import Metric
    from tunewise.evaluation._runner import CostFunction
    from tunewise.interfaces.strategy import Strategy

_KEYS = {
    "cases",
    "store",
    "run_id",
    "concurrency",
    "timeout",
    "cache",
    "metrics",
    "prices",
    "cost",
    "strategies",
    "retrievers",
    "retries",
    "budget",
    "group_by",
}


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

    def __call__(self, model_ref: str, usage: Usage) -> float | None:
        from tunewise.costs import cost_of

        return cost_of(model_ref, usage, catalog=self.catalog)


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

    def open_cache(self) -> ResponseCache | None:
        from tunewise.evaluation._cache import ResponseCache

        return ResponseCache(self.cache) if self.cache is not None else None


def load_config(path: str | Path, *, registry: Registry | None = None) -> EvalConfig:
    """Read and check an evaluation TOML file; every problem is a one-line ConfigError naming the file."""
    from tunewise.evaluation._metrics import as_metric
    from tunewise.strategies._factory import BuildContext, build_strategies

    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: {exc}") from None
    unknown = set(raw) - _KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    base = file.parent

    def rel(value: Any, key: str) -> Path:
        if not isinstance(value, str):
            raise ConfigError(f"{file}: {key} must be a path string")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p

    if "cases" not in raw:
        raise ConfigError(f"{file}: needs cases = 'FILE.jsonl'")
    if "store" in raw:
        store = rel(raw["store"], "store")
    else:
        from tunewise._settings import load_settings

        store = load_settings().home / "runs.sqlite"
    concurrency = raw.get("concurrency", 8)
    if not _whole(concurrency) or concurrency < 1:
        raise ConfigError(f"{file}: concurrency must be a positive integer, got {concurrency!r}")
    timeout = raw.get("timeout")
    if timeout is not None and not _positive(timeout):
        raise ConfigError(f"{file}: timeout must be a positive, finite number of seconds, got {timeout!r}")
    retries = raw.get("retries", 2)
    if not _whole(retries) or retries < 0:
        raise ConfigError(f"{file}: retries must be a non-negative integer, got {retries!r}")
    budget = raw.get("budget")
    if budget is not None and not _positive(budget):
        raise ConfigError(f"{file}: budget must be a positive, finite number of dollars, got {budget!r}")
    group_by = raw.get("group_by")
    if group_by is not None and (not isinstance(group_by, str) or not group_by):
        raise ConfigError(f"{file}: group_by must be a case metadata key, such as 'kind'")
    specs = raw.get("strategies")
    if not isinstance(specs, list) or not specs:
        raise ConfigError(f"{file}: needs at least one [[strategies]] table")
    retrievers_raw = raw.get("retrievers", {})
    if not isinstance(retrievers_raw, dict):
        raise ConfigError(f"{file}: retrievers must be a table of name = {{type = 'memory', ...}}")
    context = BuildContext(registry=registry, base_dir=base)
    context.retrievers = {
        name: context.retriever(spec, f"{file}: retrievers.{name}") for name, spec in retrievers_raw.items()
    }
    try:
        strategies = build_strategies(specs, context=context)
        metrics_raw = raw.get("metrics", ["exact_match"])
        if not isinstance(metrics_raw, list) or not metrics_raw:
            raise ConfigError("metrics must be a non-empty list")
        metrics = [as_metric(m, registry=context.registry) for m in metrics_raw]
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
    cost: CostFunction | None = None
    if "prices" in raw and "cost" in raw:
        raise ConfigError(f"{file}: give prices or cost, not both")
    if "prices" in raw:
        if not isinstance(raw["prices"], dict):
            raise ConfigError(f"{file}: prices must be a table")
        cost = PriceTable(raw["prices"], where=str(file))
    elif "cost" in raw:
        from tunewise.evaluation._metrics import _import

        cost = _import(str(raw["cost"]), f"{file}: cost")  # type: ignore[assignment]
    if cost is None:  # the catalog: shipped prices plus the settings' [prices]
        from tunewise.costs import cost_of

        cost = cost_of
    return EvalConfig(
        path=file,
        raw=raw,
        cases=rel(raw["cases"], "cases"),
        store=store,
        run_id=raw.get("run_id"),
        concurrency=concurrency,
        timeout=float(timeout) if timeout is not None else None,
        cache=rel(raw["cache"], "cache") if "cache" in raw else None,
        retries=retries,
        budget=float(budget) if budget is not None else None,
        group_by=group_by,
        strategies=strategies,
        metrics=metrics,
        cost=cost,
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: Any) -> bool:
    """A number of seconds or dollars: finite and above 0 (TOML also reads ``inf`` and ``nan``)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0

"""What calls cost: pure arithmetic on token counts and rates, plus ``cost_of`` for callers.

The arithmetic functions take numbers and return dollars, so they are checked against
hand-worked examples. [`cost_of()`][tunewise.costs.cost_of] is what evaluation and the ladder call with a
model reference and a [`Usage`][tunewise.Usage]: it returns ``None`` (and warns) when the
price or the token counts are unknown, never a silent zero.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tunewise._errors import TunewiseError
from tunewise._secrets import get_logger
from tunewise._types import Usage
from tunewise.costs._catalog import PriceCatalog, PriceQuote, Rates, load_catalog

HOURS_PER_MONTH = 730.0
"""365 days x 24 hours / 12 months: the convention cloud providers bill hosting by."""
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
TOKENS_PER_PRICE_UNIT = 1_000_000

if TYPE_CHECKING:
    from tunewise._refs import ModelRef

_log = get_logger("tunewise.costs")


class UnknownPriceWarning(UserWarning):
    """A cost could not be computed: no price for the model, or no token counts."""


class UnknownCostError(TunewiseError, ValueError):
    """A cost (or a break-even) could not be computed; the message says why. Raised only when asked (``strict``)."""


class CostBreakdown(BaseModel):
    """Dollars for one request, split by kind of token."""

    model_config = ConfigDict(frozen=True)

    input: float
    """Uncached prompt tokens."""
    cached_input: float
    output: float
    batch_discount: float = 0.0
    """Fraction taken off the sum (0.5 for OpenAI's Batch API)."""
    compute: float = 0.0
    """A model priced by compute time (local): measured seconds x the device's hourly rate."""

    @property
    def total(self) -> float:
        return (self.input + self.cached_input + self.output) * (1 - self.batch_discount) + self.compute


def _check(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _parts(
    rates: Rates, prompt: float, completion: float, cached: float, discount: float
) -> tuple[float, float, float]:
    """Checked dollars for (uncached input, cached input, output), before any discount."""
    fine = 0 <= cached <= prompt and completion >= 0 and 0 <= discount <= 1 and math.isfinite(prompt + completion)
    if not fine:  # work out which one to name
        for name, value in (
            ("prompt_tokens", prompt),
            ("completion_tokens", completion),
            ("cached_prompt_tokens", cached),
            ("batch_discount", discount),
        ):
            _check(name, value)
        if cached > prompt:
            raise ValueError(f"cached_prompt_tokens ({cached}) exceeds prompt_tokens ({prompt})")
        raise ValueError(f"batch_discount is a fraction between 0 and 1, got {discount}")
    if completion > 0 and rates.output is None:
        raise ValueError("this model has no output price (an embedding model?) but the usage has completion tokens")
    cached_price = rates.input if rates.cached_input is None else rates.cached_input
    return (
        (prompt - cached) * rates.input / TOKENS_PER_PRICE_UNIT,
        cached * cached_price / TOKENS_PER_PRICE_UNIT,
        completion * (rates.output or 0.0) / TOKENS_PER_PRICE_UNIT,
    )


def cost_breakdown(
    rates: Rates,
    *,
    prompt_tokens: float,
    completion_tokens: float = 0.0,
    cached_prompt_tokens: float = 0.0,
    batch_discount: float = 0.0,
) -> CostBreakdown:
    """Split one request's cost by token kind.

    ``prompt_tokens`` includes the cached ones, as OpenAI reports usage; token counts may
    be fractional (means over a run). Cached tokens cost ``rates.cached_input``, or the
    full input price when the provider gives no cache discount.
    """
    uncached, cached, output = _parts(rates, prompt_tokens, completion_tokens, cached_prompt_tokens, batch_discount)
    return CostBreakdown(input=uncached, cached_input=cached, output=output, batch_discount=batch_discount)


def request_cost(
    rates: Rates,
    *,
    prompt_tokens: float,
    completion_tokens: float = 0.0,
    cached_prompt_tokens: float = 0.0,
    batch_discount: float = 0.0,
) -> float:
    """Dollars for one request at ``rates`` (USD per 1M tokens): the hot path of evaluation."""
    uncached, cached, output = _parts(rates, prompt_tokens, completion_tokens, cached_prompt_tokens, batch_discount)
    return (uncached + cached + output) * (1 - batch_discount)


def hosting_per_month(per_hour: float) -> float:
    """A deployment kept up all month: ``per_hour`` x 730 hours."""
    _check("hosting per hour", per_hour)
    return per_hour * HOURS_PER_MONTH


def monthly_cost(cost_per_request: float, requests_per_month: float, *, hosting_per_month: float = 0.0) -> float:
    """Projected dollars per month: requests x cost each, plus fixed hosting."""
    _check("cost_per_request", cost_per_request)
    _check("requests_per_month", requests_per_month)
    _check("hosting_per_month", hosting_per_month)
    return cost_per_request * requests_per_month + hosting_per_month


def training_cost(billed_tokens: float, epochs: float, price_per_million: float) -> float:
    """Dollars for a fine-tune: billed training tokens x epochs x the training price per 1M.

    ``billed_tokens`` is one pass over the training file, as the data toolkit counts it;
    OpenAI bills each epoch's pass. A finished OpenAI job's ``trained_tokens`` already
    counts every epoch: pass it with ``epochs=1``.
    """
    _check("billed_tokens", billed_tokens)
    _check("epochs", epochs)
    _check("price_per_million", price_per_million)
    return billed_tokens * epochs * price_per_million / TOKENS_PER_PRICE_UNIT


class MeanUsage(BaseModel):
    """Mean tokens per request over a run: what break-even takes from two measured runs."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    prompt_tokens: float = Field(ge=0)
    completion_tokens: float = Field(ge=0)
    cached_prompt_tokens: float = Field(default=0.0, ge=0)
    compute_s: float | None = Field(default=None, ge=0)
    """Mean seconds of local compute per request (models priced by compute time)."""
    compute_device: str | None = None

    @classmethod
    def of(cls, usages: Iterable[Usage]) -> MeanUsage:
        """The mean of measured usages; every one must have prompt and completion counts."""
        items = list(usages)
        if not items:
            raise ValueError("no usages to average")
        if any(u.prompt_tokens is None or u.completion_tokens is None for u in items):
            raise ValueError("some usages have no token counts; their mean is unknown")
        n = len(items)
        timed = all(u.compute_s is not None for u in items)
        devices = {u.compute_device for u in items}
        return cls(
            prompt_tokens=sum(u.prompt_tokens or 0 for u in items) / n,
            completion_tokens=sum(u.completion_tokens or 0 for u in items) / n,
            cached_prompt_tokens=sum(u.cached_prompt_tokens or 0 for u in items) / n,
            compute_s=sum(u.compute_s or 0.0 for u in items) / n if timed else None,
            compute_device=devices.pop() if len(devices) == 1 else None,
        )


def _counts(usage: Usage | MeanUsage) -> tuple[float, float, float] | None:
    """(prompt, completion, cached prompt) tokens, or ``None`` when the provider did not say."""
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return usage.prompt_tokens, usage.completion_tokens, usage.cached_prompt_tokens or 0


def _as_mean(usage: Usage | MeanUsage) -> MeanUsage | None:
    if isinstance(usage, MeanUsage):
        return usage
    counts = _counts(usage)
    if counts is None:
        return None
    return MeanUsage(
        prompt_tokens=counts[0],
        completion_tokens=counts[1],
        cached_prompt_tokens=counts[2],
        compute_s=usage.compute_s,
        compute_device=usage.compute_device,
    )


def compute_cost(seconds: float, per_hour: float) -> float:
    """Dollars for ``seconds`` of a machine that costs ``per_hour`` dollars an hour."""
    _check("compute seconds", seconds)
    _check("compute per hour", per_hour)
    return seconds * per_hour / 3600.0


def priced_breakdown(found: PriceQuote, usage: Usage | MeanUsage, *, batch: bool = False) -> CostBreakdown:
    """One request's cost at ``found``'s prices: by tokens, or by compute time for a local model.

    Raises ``ValueError`` saying why when it cannot be priced (no token counts, no measured
    compute time, no rate for the device, no batch discount).
    """
    counts = _counts(usage)
    if found.rates is None:  # priced by compute time
        if usage.compute_s is None:
            if counts is not None and counts[0] == 0 and counts[1] == 0:
                return CostBreakdown(input=0.0, cached_input=0.0, output=0.0)  # no model call: truly free
            raise ValueError("the provider measured no compute time for this call")
        rate = found.entry.compute_rate(usage.compute_device)
        if rate is None:
            device = usage.compute_device or "cpu"
            raise ValueError(f"no compute_per_hour rate for device {device!r} in {found.entry.ref}")
        return CostBreakdown(input=0.0, cached_input=0.0, output=0.0, compute=compute_cost(usage.compute_s, rate[1]))
    if counts is None:
        raise ValueError("the provider reported no token counts")
    discount = 0.0
    if batch:
        if found.entry.batch_discount is None:
            raise ValueError(f"no batch discount known for {found.entry.ref}")
        discount = found.entry.batch_discount
    return cost_breakdown(
        found.rates,
        prompt_tokens=counts[0],
        completion_tokens=counts[1],
        cached_prompt_tokens=counts[2],
        batch_discount=discount,
    )


def warn_unknown(message: str) -> None:
    """Say a cost is unknown ([`Cost.warn()`][tunewise.costs.Cost.warn]), as seen from the caller's caller."""
    Cost.unknown_because(message).warn(stacklevel=3)


def unknown_price_message(ref: str) -> str:
    """What tunewise says of a model without a price: the reason, and the settings entry that adds one."""
    return (
        f"no price known for {ref!r}; its cost is unknown. Add it to tunewise.toml as "
        f'[prices."{ref}"] with input and output in USD per 1M tokens'
    )


FILE_CHECK_INTERVAL_S = 1.0
"""How often [`default_catalog()`][tunewise.costs.default_catalog] looks at the settings files' modification times."""


def _mtime(path: str | None) -> int | None:
    if not path:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class _Cached:
    """The default catalog and what it was built from."""

    def __init__(self, env_key: tuple[str | None, ...], file_key: tuple[int | None, ...], catalog: PriceCatalog):
        self.env_key, self.file_key, self.catalog = env_key, file_key, catalog
        self.checked_at = time.monotonic()


_cache: _Cached | None = None


def _env_key() -> tuple[str | None, ...]:
    env = os.environ
    return (
        env.get("TUNEWISE_CONFIG"),
        env.get("TUNEWISE_PRICES"),
        env.get("TUNEWISE_PRICES_FILE"),
        env.get("HOME"),
        os.getcwd(),
    )


def _file_key(env_key: tuple[str | None, ...]) -> tuple[int | None, ...]:
    from tunewise._settings import settings_files_searched  # the settings files load_settings() looks for

    explicit, _, prices_file, _, _ = env_key
    return (_mtime(explicit), *(_mtime(str(path)) for path in settings_files_searched()), _mtime(prices_file))


def default_catalog() -> PriceCatalog:
    """The catalog from the current settings, rebuilt when they change.

    A change of environment (``TUNEWISE_CONFIG``, ``TUNEWISE_PRICES_FILE``, the working
    directory) is seen at once; an edit to a settings or price file within
    ``FILE_CHECK_INTERVAL_S`` (a few ``stat`` calls cost more than the rest of a lookup).
    """
    global _cache
    env_key = _env_key()
    cached = _cache
    if cached is not None and cached.env_key == env_key:
        if time.monotonic() - cached.checked_at < FILE_CHECK_INTERVAL_S:
            return cached.catalog
        if cached.file_key == _file_key(env_key):
            cached.checked_at = time.monotonic()
            return cached.catalog
    _cache = _Cached(env_key, _file_key(env_key), load_catalog())
    return _cache.catalog


def quote(model: str | ModelRef, *, catalog: PriceCatalog | None = None) -> PriceQuote | None:
    """The price that applies to ``model`` (a reference such as ``openai:gpt-4o-mini``)."""
    return (catalog or default_catalog()).quote(str(model))


@dataclass(frozen=True, slots=True)
class Cost:
    """Dollars, or why they are unknown: what [`price()`][tunewise.costs.price] returns.

    Costs add up with ``+`` and [`Cost.total()`][tunewise.costs.Cost.total]; an unknown part makes
    the sum unknown (keeping the first reason), so an unknown price never becomes a silent zero.
    ``str(cost)`` is ``$0.000270`` or ``unknown (no price known for 'x'; ...)``.

    >>> Cost(0.25) + Cost(0.5)
    Cost(dollars=0.75, unknown=None)
    >>> (Cost(0.25) + Cost.unknown_because("no token counts")).known
    False
    """

    dollars: float | None
    unknown: str | None = None
    """Why the cost is unknown (``None`` when it is known)."""

    def __post_init__(self) -> None:
        if (self.dollars is None) == (self.unknown is None):
            raise ValueError("a Cost has either dollars or a reason why they are unknown")

    @classmethod
    def unknown_because(cls, why: str) -> Cost:
        return cls(None, why)

    @classmethod
    def total(cls, costs: Iterable[Cost]) -> Cost:
        """The sum of ``costs`` ($0 for none); unknown when any one is."""
        dollars = 0.0
        for cost in costs:
            if cost.dollars is None:
                return cost
            dollars += cost.dollars
        return cls(dollars)

    @property
    def known(self) -> bool:
        return self.dollars is not None

    def __add__(self, other: Cost) -> Cost:
        return Cost.total((self, other))

    def __mul__(self, factor: float) -> Cost:
        return self if self.dollars is None else Cost(self.dollars * factor)

    def __str__(self) -> str:
        return f"unknown ({self.unknown})" if self.dollars is None else f"${self.dollars:.6f}"

    def warn(self, *, stacklevel: int = 1) -> None:
        """Say why this cost is unknown: an [`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning] and a log line.

        Nothing for a known cost. ``stacklevel`` counts as in `warnings.warn`, from the caller of ``warn()``.
        """
        if self.unknown is not None:
            _log.warning(self.unknown)
            warnings.warn(self.unknown, UnknownPriceWarning, stacklevel=stacklevel + 1)


def sum_known(*dollars: float | None) -> float | None:
    """The sum of ``dollars``, or ``None`` when any is unknown: an unknown cost is never taken as 0.

    >>> sum_known(0.25, 0.5), sum_known(0.25, None)
    (0.75, None)
    """
    total = 0.0
    for value in dollars:
        if value is None:
            return None
        total += value
    return total


def price(
    model: str | ModelRef,
    usage: Usage | MeanUsage,
    *,
    batch: bool = False,
    catalog: PriceCatalog | None = None,
) -> Cost:
    """One request's ``usage`` on ``model`` priced: a [`Cost`][tunewise.costs.Cost], never a warning.

    ``model`` is a reference (``openai:gpt-4o-mini``, ``openai:ft:gpt-4o-mini-2024-07-18:org::id``,
    ``ollama:llama3.2``); a bare name is looked up across providers. ``batch`` applies the
    provider's batch discount. Unknown means: no price for the model (local models are
    unknown until you price them in settings), a usage without token counts, or no batch
    discount known; the [`Cost`][tunewise.costs.Cost] says which.
    """
    found = quote(model, catalog=catalog)
    if found is None:
        return Cost.unknown_because(unknown_price_message(str(model)))
    counts = _counts(usage)
    try:
        if found.rates is not None and counts is not None and not batch:  # the hot path: no breakdown object
            return Cost(
                request_cost(
                    found.rates, prompt_tokens=counts[0], completion_tokens=counts[1], cached_prompt_tokens=counts[2]
                )
            )
        return Cost(priced_breakdown(found, usage, batch=batch).total)
    except ValueError as exc:
        return Cost.unknown_because(f"{model}: {exc}")


def cost_of(
    model: str | ModelRef,
    usage: Usage | MeanUsage,
    *,
    batch: bool = False,
    catalog: PriceCatalog | None = None,
) -> float | None:
    """[`price()`][tunewise.costs.price] as a number.

    ``None``, with an [`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning], when the price is unknown.
    """
    cost = price(model, usage, batch=batch, catalog=catalog)
    if cost.unknown is not None:
        warn_unknown(cost.unknown if cost.unknown.startswith("no price") else f"{cost.unknown}; the cost is unknown")
    return cost.dollars


class CostEstimate(BaseModel):
    """A model's cost for a typical request, per 1k requests and per month at a volume."""

    model_config = ConfigDict(frozen=True)

    model: str
    priced_as: str
    """The catalog entry used (``openai:gpt-4o-mini``), prefixed ``ft:`` rates when fine-tuned."""
    fine_tuned: bool
    source: str | None
    as_of: date | None
    prompt_tokens: float
    completion_tokens: float
    cached_prompt_tokens: float
    batch: bool
    breakdown: CostBreakdown
    per_request: float
    per_1k_requests: float
    requests_per_month: float | None
    hosting_per_month: float
    per_month: float | None
    """``None`` when no request volume was given."""


def estimate(
    model: str | ModelRef,
    usage: Usage | MeanUsage,
    *,
    requests_per_month: float | None = None,
    batch: bool = False,
    catalog: PriceCatalog | None = None,
) -> CostEstimate | None:
    """[`cost_of()`][tunewise.costs.cost_of] with the details a report shows; ``None`` (and a warning) when unknown.

    The monthly projection adds the entry's hosting (``hosting_per_hour`` x 730) when it has one.
    """
    found = quote(model, catalog=catalog)
    per_request = cost_of(model, usage, batch=batch, catalog=catalog)
    if found is None or per_request is None:
        return None
    mean = _as_mean(usage)
    assert mean is not None
    hosting = hosting_per_month(found.entry.hosting_per_hour) if found.entry.hosting_per_hour else 0.0
    per_month = None
    if requests_per_month is not None:
        per_month = monthly_cost(per_request, requests_per_month, hosting_per_month=hosting)
    return CostEstimate(
        model=str(model),
        priced_as=found.entry.ref,
        fine_tuned=found.fine_tuned,
        source=found.entry.source,
        as_of=found.entry.as_of,
        prompt_tokens=mean.prompt_tokens,
        completion_tokens=mean.completion_tokens,
        cached_prompt_tokens=mean.cached_prompt_tokens,
        batch=batch,
        breakdown=priced_breakdown(found, mean, batch=batch),
        per_request=per_request,
        per_1k_requests=per_request * 1000,
        requests_per_month=requests_per_month,
        hosting_per_month=hosting,
        per_month=per_month,
    )

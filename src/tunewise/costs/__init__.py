"""Costs: a dated price catalog, the cost of measured usage, and fine-tune break-even.

>>> from tunewise import Usage
>>> from tunewise.costs import cost_of
>>> round(cost_of("openai:gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=200)), 6)
0.00027

Imported on first use (``import tunewise`` does not load it). Prices come from the
``prices.toml`` shipped here, each with its source and the date it was read, overlaid
with ``prices_file`` and ``prices`` from settings. An unknown price is ``None`` plus an
[`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning]: never a silent zero.
[`price()`][tunewise.costs.price] returns a [`Cost`][tunewise.costs.Cost] that says why it is unknown
instead of warning, for callers that report the reason.
"""

from tunewise.costs._breakeven import (
    DEFAULT_HORIZON_MONTHS,
    BreakEven,
    break_even,
    break_even_from_prices,
    break_even_from_usage,
)
from tunewise.costs._catalog import (
    PriceCatalog,
    PriceEntry,
    PriceQuote,
    Rates,
    builtin_entries,
    load_catalog,
    read_price_file,
)
from tunewise.costs._cost import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    Cost,
    CostBreakdown,
    CostEstimate,
    MeanUsage,
    UnknownCostError,
    UnknownPriceWarning,
    compute_cost,
    cost_breakdown,
    cost_of,
    default_catalog,
    estimate,
    hosting_per_month,
    monthly_cost,
    price,
    quote,
    request_cost,
    sum_known,
    training_cost,
    unknown_price_message,
)

__all__ = [
    "DAYS_PER_MONTH",
    "DEFAULT_HORIZON_MONTHS",
    "HOURS_PER_MONTH",
    "BreakEven",
    "Cost",
    "CostBreakdown",
    "CostEstimate",
    "MeanUsage",
    "PriceCatalog",
    "PriceEntry",
    "PriceQuote",
    "Rates",
    "UnknownCostError",
    "UnknownPriceWarning",
    "break_even",
    "break_even_from_prices",
    "break_even_from_usage",
    "builtin_entries",
    "compute_cost",
    "cost_breakdown",
    "cost_of",
    "default_catalog",
    "estimate",
    "hosting_per_month",
    "load_catalog",
    "monthly_cost",
    "price",
    "quote",
    "read_price_file",
    "request_cost",
    "sum_known",
    "training_cost",
    "unknown_price_message",
]

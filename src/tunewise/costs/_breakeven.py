"""Break-even: when does a fine-tune pay for itself against a prompt-heavy setup?

A fine-tuned model needs a shorter prompt (the instructions and examples are in its
weights), so each request sends fewer tokens; but its tokens usually cost more, the
training is paid up front, and a self-hosted model may cost a fixed amount per hour.
The arithmetic here weighs those and answers in money and days:

- savings per request = cost of a prompt-heavy request - cost of a fine-tuned request
- monthly savings = savings per request x requests per month - extra hosting per month
- payback = training cost / monthly savings (never, when monthly savings <= 0)
- break-even volume = the monthly requests at which savings cover hosting plus the
  training cost spread over ``horizon_months`` (never, when a fine-tuned request is not
  cheaper than a prompt-heavy one)

Worked example (the blog's): 500 prompt tokens saved per request x 100,000 requests a
month at $0.002 per 1K tokens = $100 a month saved; a $50 fine-tune pays back in half a
month, about 15 days.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tunewise._types import Usage
from tunewise.costs._cost import (
    DAYS_PER_MONTH,
    MeanUsage,
    UnknownCostError,
    _as_mean,
    priced_breakdown,
    quote,
    unknown_price_message,
    warn_unknown,
)
from tunewise.costs._cost import hosting_per_month as _hosting_per_month
from tunewise.costs._cost import training_cost as _training_cost

if TYPE_CHECKING:
    from tunewise._refs import ModelRef
    from tunewise.costs._catalog import PriceCatalog

DEFAULT_HORIZON_MONTHS = 12.0
"""How long a fine-tune is expected to serve before it is retrained or retired."""


class BreakEven(BaseModel):
    """A prompt-heavy setup against a fine-tuned one, in dollars and days.

    ``None`` in ``payback_days`` or ``break_even_requests_per_month`` means *never*: the
    fine-tune does not pay for itself at this volume, or at any volume.
    """

    model_config = ConfigDict(frozen=True)

    requests_per_month: float
    tokens_saved_per_request: float | None
    prompt_cost_per_request: float | None
    """A request of the prompt-heavy setup, when its full size is known."""
    finetuned_cost_per_request: float | None
    savings_per_request: float
    """May be negative: the fine-tuned model's higher price can outweigh the shorter prompt."""
    training_cost: float
    hosting_per_month: float
    """Fixed monthly cost the fine-tuned setup adds (a self-hosted GPU; 0 on OpenAI)."""
    monthly_savings: float
    """May be negative."""
    payback_days: float | None
    break_even_requests_per_month: float | None
    horizon_months: float

    @property
    def pays_back(self) -> bool:
        return self.payback_days is not None

    def summary(self) -> str:
        """One short paragraph a person can act on."""
        volume = f"{self.requests_per_month:,.0f} requests a month"
        if self.savings_per_request > 0:
            per_request = f"A fine-tuned request costs ${self.savings_per_request:.6f} less than a prompt-heavy one"
        elif self.savings_per_request < 0:
            per_request = f"A fine-tuned request costs ${-self.savings_per_request:.6f} more than a prompt-heavy one"
        else:
            per_request = "A fine-tuned request costs the same as a prompt-heavy one"
        hosting = f" counting ${self.hosting_per_month:,.2f} of hosting" if self.hosting_per_month else ""
        if self.monthly_savings >= 0:
            monthly = f"at {volume} the fine-tune saves ${self.monthly_savings:,.2f} a month{hosting}"
        else:
            monthly = f"at {volume} it costs ${-self.monthly_savings:,.2f} a month more{hosting}"
        if self.payback_days is None:
            payback = f"The {_money(self.training_cost)} of training never pays back at this volume"
        elif self.payback_days == 0:
            payback = "With no training cost it pays from the first request"
        else:
            payback = f"The {_money(self.training_cost)} of training pays back in {self.payback_days:,.1f} days"
        if self.break_even_requests_per_month is None:
            volume_note = "no request volume makes the fine-tune worth it."
        else:
            volume_note = (
                f"it breaks even from {self.break_even_requests_per_month:,.0f} requests a month "
                f"(training spread over {self.horizon_months:g} months)."
            )
        return f"{per_request}; {monthly}. {payback}; {volume_note}"


def _money(dollars: float) -> str:
    """``$1,234.50``; a sum under a cent (a local fine-tune on a CPU) keeps its significant digits: ``$0.0045``."""
    return f"${dollars:,.2f}" if dollars == 0 or abs(dollars) >= 0.01 else f"${dollars:.2g}"


def _check(name: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")


def break_even(
    *,
    savings_per_request: float,
    requests_per_month: float,
    training_cost: float,
    hosting_per_month: float = 0.0,
    horizon_months: float = DEFAULT_HORIZON_MONTHS,
    prompt_cost_per_request: float | None = None,
    finetuned_cost_per_request: float | None = None,
    tokens_saved_per_request: float | None = None,
) -> BreakEven:
    """The core arithmetic, from the dollars saved per request.

    ``hosting_per_month`` is what the fine-tuned setup costs per month beyond the
    prompt-heavy one whatever the volume; ``horizon_months`` is how long the training
    cost is spread over for the break-even volume.
    """
    if not math.isfinite(savings_per_request):
        raise ValueError(f"savings_per_request must be a finite number, got {savings_per_request}")
    _check("requests_per_month", requests_per_month)
    _check("training_cost", training_cost)
    _check("hosting_per_month", hosting_per_month)
    _check("horizon_months", horizon_months, positive=True)
    monthly = savings_per_request * requests_per_month - hosting_per_month
    payback = None
    if monthly > 0:
        payback = training_cost / monthly * DAYS_PER_MONTH
    volume = None
    if savings_per_request > 0:
        volume = (hosting_per_month + training_cost / horizon_months) / savings_per_request
    # Savings too small to represent are no savings: "never", not infinity.
    if payback is not None and not math.isfinite(payback):
        payback = None
    if volume is not None and not math.isfinite(volume):
        volume = None
    return BreakEven(
        requests_per_month=requests_per_month,
        tokens_saved_per_request=tokens_saved_per_request,
        prompt_cost_per_request=prompt_cost_per_request,
        finetuned_cost_per_request=finetuned_cost_per_request,
        savings_per_request=savings_per_request,
        training_cost=training_cost,
        hosting_per_month=hosting_per_month,
        monthly_savings=monthly,
        payback_days=payback,
        break_even_requests_per_month=volume,
        horizon_months=horizon_months,
    )


def break_even_from_prices(
    *,
    tokens_saved: float,
    requests_per_month: float,
    price_per_1k: float,
    finetune_cost: float,
    finetuned_price_per_1k: float | None = None,
    prompt_tokens: float | None = None,
    completion_tokens: float = 0.0,
    output_price_per_1k: float | None = None,
    finetuned_output_price_per_1k: float | None = None,
    hosting_per_month: float = 0.0,
    horizon_months: float = DEFAULT_HORIZON_MONTHS,
) -> BreakEven:
    """Break-even from the numbers people quote: tokens saved, volume, price per 1K tokens.

    With one price for both setups only the saved tokens matter. When the fine-tuned
    model costs more per token (``finetuned_price_per_1k``), the remaining prompt is
    billed at the higher price too, so ``prompt_tokens`` (the prompt-heavy request's
    input size) is needed. Output prices matter only when they differ between setups.
    """
    _check("tokens_saved", tokens_saved)
    _check("price_per_1k", price_per_1k)
    _check("completion_tokens", completion_tokens)
    ft_in = price_per_1k if finetuned_price_per_1k is None else finetuned_price_per_1k
    _check("finetuned_price_per_1k", ft_in)
    if finetuned_output_price_per_1k is not None and output_price_per_1k is None:
        raise ValueError("finetuned_output_price_per_1k needs output_price_per_1k (the prompt-heavy model's)")
    out = output_price_per_1k or 0.0
    ft_out = out if finetuned_output_price_per_1k is None else finetuned_output_price_per_1k
    _check("output_price_per_1k", out)
    _check("finetuned_output_price_per_1k", ft_out)
    if prompt_tokens is None:
        if ft_in != price_per_1k:
            raise ValueError(
                "a different fine-tuned price needs prompt_tokens (the prompt-heavy request's input tokens)"
            )
        savings = (tokens_saved * price_per_1k + completion_tokens * (out - ft_out)) / 1000
        return break_even(
            savings_per_request=savings,
            requests_per_month=requests_per_month,
            training_cost=finetune_cost,
            hosting_per_month=hosting_per_month,
            horizon_months=horizon_months,
            tokens_saved_per_request=tokens_saved,
        )
    _check("prompt_tokens", prompt_tokens)
    if tokens_saved > prompt_tokens:
        raise ValueError(f"tokens_saved ({tokens_saved:g}) exceeds prompt_tokens ({prompt_tokens:g})")
    prompt_cost = (prompt_tokens * price_per_1k + completion_tokens * out) / 1000
    finetuned_cost = ((prompt_tokens - tokens_saved) * ft_in + completion_tokens * ft_out) / 1000
    return break_even(
        savings_per_request=prompt_cost - finetuned_cost,
        requests_per_month=requests_per_month,
        training_cost=finetune_cost,
        hosting_per_month=hosting_per_month,
        horizon_months=horizon_months,
        prompt_cost_per_request=prompt_cost,
        finetuned_cost_per_request=finetuned_cost,
        tokens_saved_per_request=tokens_saved,
    )


def break_even_from_usage(
    *,
    prompt_model: str | ModelRef,
    prompt_usage: Usage | MeanUsage,
    finetuned_model: str | ModelRef,
    finetuned_usage: Usage | MeanUsage,
    requests_per_month: float,
    training_cost: float | None = None,
    training_tokens: float | None = None,
    epochs: float | None = None,
    hosting_per_month: float | None = None,
    horizon_months: float = DEFAULT_HORIZON_MONTHS,
    batch: bool = False,
    catalog: PriceCatalog | None = None,
    strict: bool = False,
) -> BreakEven | None:
    """Break-even from two measured runs: mean usage per request of each setup, priced.

    ``finetuned_model`` is the fine-tune's reference (``openai:ft:gpt-4o-mini-2024-07-18:...``)
    or, before training, its base model written as a fine-tune
    (``openai:ft:gpt-4o-mini-2024-07-18``). The training cost is given, or computed from
    ``training_tokens`` (one pass over the file) x ``epochs`` at the catalog's training
    price; a finished OpenAI job's ``trained_tokens`` counts all epochs (use ``epochs=1``). Hosting defaults to
    the difference between the two models' ``hosting_per_hour`` (x 730).

    When a price or a token count is unknown: returns ``None`` with an
    [`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning], or with ``strict=True`` raises
    [`UnknownCostError`][tunewise.costs.UnknownCostError] saying why (for callers that report the reason).
    """
    from tunewise.costs._cost import default_catalog

    catalog = catalog or default_catalog()
    prompt_quote = quote(prompt_model, catalog=catalog)
    ft_quote = quote(finetuned_model, catalog=catalog)
    try:
        for ref, found in ((prompt_model, prompt_quote), (finetuned_model, ft_quote)):
            if found is None:
                raise UnknownCostError(unknown_price_message(str(ref)))
        assert prompt_quote is not None and ft_quote is not None
        prompt_mean, ft_mean = _as_mean(prompt_usage), _as_mean(finetuned_usage)
        if prompt_mean is None or ft_mean is None:
            raise UnknownCostError("a measured run has no token counts; break-even is unknown")
        if training_cost is None:
            price = ft_quote.entry.finetune_training
            if training_tokens is None or epochs is None:
                raise ValueError("give training_cost, or training_tokens and epochs to price the training")
            if price is None:
                raise UnknownCostError(
                    f"no per-token training price known for {ft_quote.entry.ref}; break-even is unknown"
                )
            training_cost = _training_cost(training_tokens, epochs, price)
        try:
            prompt_cost, finetuned_cost = (
                priced_breakdown(found, mean, batch=batch).total
                for found, mean in ((prompt_quote, prompt_mean), (ft_quote, ft_mean))
            )
        except ValueError as exc:
            raise UnknownCostError(f"{exc}; break-even is unknown") from None
    except UnknownCostError as exc:
        if strict:
            raise
        warn_unknown(str(exc))
        return None
    if hosting_per_month is None:
        extra = (ft_quote.entry.hosting_per_hour or 0.0) - (prompt_quote.entry.hosting_per_hour or 0.0)
        hosting_per_month = _hosting_per_month(max(extra, 0.0))
    return break_even(
        savings_per_request=prompt_cost - finetuned_cost,
        requests_per_month=requests_per_month,
        training_cost=training_cost,
        hosting_per_month=hosting_per_month,
        horizon_months=horizon_months,
        prompt_cost_per_request=prompt_cost,
        finetuned_cost_per_request=finetuned_cost,
        tokens_saved_per_request=prompt_mean.prompt_tokens - ft_mean.prompt_tokens,
    )

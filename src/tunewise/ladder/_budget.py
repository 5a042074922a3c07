"""Budget and estimates: what a rung is expected to cost before it starts, and whether it fits the budget.

Token counts are estimated (about four characters per token); prices come from the catalog, and a local
model priced by compute time uses the seconds per token the ladder has measured so far.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunewise._refs import ModelRef
from tunewise._types import Message
from tunewise.costs import MeanUsage, compute_cost, price, quote, sum_known, training_cost
from tunewise.ladder._config import RungKind
from tunewise.ladder._optimize import DEFAULT_INSTRUCTION

if TYPE_CHECKING:
    from tunewise.evaluation import Case
    from tunewise.ladder._config import LadderConfig
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import FineTuneRecord, LadderState

PROMPT_RUNGS: tuple[RungKind, ...] = ("zero_shot", "few_shot", "optimized_prompt")
FINE_TUNE_RUNGS: tuple[RungKind, ...] = ("fine_tune", "rag_fine_tuned")

ASSUMED_S_PER_TOKEN = 0.02
"""Seconds of local compute per prompt+completion token, assumed for a budget estimate only until the
ladder has measured its model (a deliberately slow CPU figure: the estimate errs high, never at zero)."""
ASSUMED_TRAIN_S_PER_TOKEN = 0.01
"""Seconds of local training per token x epoch, assumed until the fine-tune job has measured its own."""


def estimate_tokens(text: str) -> float:
    """Tokens in ``text`` for budgeting: about four characters per token, as OpenAI's guidance for English."""
    return len(text) / 4


def conversation_tokens(messages: Sequence[Message]) -> float:
    """Prompt tokens of a conversation: its text plus OpenAI's few tokens of overhead per message."""
    return sum(estimate_tokens(m.content or "") + 4 for m in messages) + 3


@dataclass(frozen=True)
class Estimate:
    """What a rung is expected to cost before it starts; ``dollars`` ``None`` when a price is unknown."""

    dollars: float | None
    tokens: int


def seconds_per_token(state: LadderState) -> tuple[float, str | None]:
    """Local compute seconds per prompt+completion token measured by the finished rungs, and their device.

    [`ASSUMED_S_PER_TOKEN`][tunewise.ladder._budget.ASSUMED_S_PER_TOKEN] stands in before any was measured.
    """
    seconds = tokens = 0.0
    device: str | None = None
    for r in state.results.values():
        if r.compute_s is not None and r.prompt_tokens is not None and r.completion_tokens is not None:
            seconds += r.compute_s
            tokens += r.prompt_tokens + r.completion_tokens
            device = device or r.compute_device
    return (seconds / tokens if tokens > 0 else ASSUMED_S_PER_TOKEN), device


def training_price(
    config: LadderConfig, state: LadderState, billed_tokens: float, record: FineTuneRecord | None = None
) -> float | None:
    """Dollars to train on ``billed_tokens`` (tokens x epochs).

    Priced per token, or for a local model by its measured training time (``record``) x the hourly
    rate, estimated before the job has run.
    """
    found = quote(config.fine_tune_base)
    if found is None:
        return None
    if found.entry.by_compute:
        measured = record is not None and record.compute_s is not None
        device = record.compute_device if record is not None and measured else seconds_per_token(state)[1]
        rate = found.entry.compute_rate(device)
        if rate is None:
            return None
        seconds = record.compute_s if record is not None and record.compute_s is not None else None
        return compute_cost(seconds if seconds is not None else billed_tokens * ASSUMED_TRAIN_S_PER_TOKEN, rate[1])
    if found.entry.finetune_training is None:
        return None
    return training_cost(billed_tokens, 1, found.entry.finetune_training)


def _price(state: LadderState, ref: str, prompt: float, completion: float, calls: float) -> float | None:
    found = quote(ref)
    if found is None:
        return None
    usage = MeanUsage(prompt_tokens=prompt, completion_tokens=completion)
    if found.rates is None:  # priced by compute time: seconds from what this ladder measured so far
        per_token, device = seconds_per_token(state)
        usage = usage.model_copy(update={"compute_s": (prompt + completion) * per_token, "compute_device": device})
    return (price(ref, usage) * calls).dollars


def _completion_tokens(ctx: LadderContext) -> float:
    measured = [r.completion_tokens for r in ctx.state.results.values() if r.completion_tokens is not None]
    if measured:
        return max(measured)
    refs = [estimate_tokens(c.reference or "") for c in ctx.test]
    return max(sum(refs) / len(refs), 16.0)


def _prompt_tokens(ctx: LadderContext, cases: Sequence[Case], system: str | None, examples: int) -> float:
    example_tokens = 0.0
    if examples:
        pairs = ctx.examples()
        per = sum(estimate_tokens(e["input"]) + estimate_tokens(e["output"]) + 8 for e in pairs) / max(len(pairs), 1)
        example_tokens = per * min(examples, len(pairs))
    system_tokens = estimate_tokens(system) + 4 if system else 0.0
    return sum(conversation_tokens(c.input) for c in cases) / len(cases) + example_tokens + system_tokens


def finetuned_price_ref(config: LadderConfig, state: LadderState) -> str:
    """The fine-tuned model to price: the trained one, else the base's ``PREFIX:ft:NAME`` catalog entry."""
    if state.fine_tune is not None and state.fine_tune.model:
        return state.fine_tune.model
    ref = ModelRef.parse(config.fine_tune_base)
    return f"{ref.prefix}:ft:{ref.name}"


def estimate(ctx: LadderContext, rung: RungKind) -> Estimate:
    """The rung's expected cost: its test evaluation, plus dev scoring and writing, or training."""
    config = ctx.config
    k = config.few_shot.k if "few_shot" in config.rungs and rung in PROMPT_RUNGS and rung != "zero_shot" else 0
    system = ctx.system if rung != "zero_shot" else None
    completion = _completion_tokens(ctx)
    n = len(ctx.test)
    parts: list[tuple[str, float, float, float]] = []  # (model, prompt, completion, calls)
    if rung in PROMPT_RUNGS:
        parts.append((config.models.base, _prompt_tokens(ctx, ctx.test, system, k), completion, n))
    if rung == "optimized_prompt":
        opt = config.optimizer
        per_dev = _prompt_tokens(ctx, ctx.dev, (system or DEFAULT_INSTRUCTION) + " " * 800, k)
        dev_calls = len(ctx.dev) * (1 + opt.candidates * opt.rounds)
        parts.append((config.models.base, per_dev, completion, dev_calls))
        writer_prompt_tokens = 400 + opt.failures * (completion * 2 + 60) + opt.candidates * 200
        parts.append((config.optimizer_model, writer_prompt_tokens, opt.candidates * 200.0, opt.rounds))
    training = 0.0
    dollars: float | None = 0.0
    if rung == "fine_tune":
        parts.append((finetuned_price_ref(config, ctx.state), _prompt_tokens(ctx, ctx.test, None, 0), completion, n))
        if ctx.state.fine_tune is None:
            training = ctx.training.tokens() * ctx.training.epochs()
            dollars = training_price(config, ctx.state, training)
    if rung in ("rag", "rag_fine_tuned"):
        model = config.models.base if rung == "rag" else finetuned_price_ref(config, ctx.state)
        context = config.retrieval.k * 200.0
        parts.append((model, _prompt_tokens(ctx, ctx.test, None, 0) + context, completion, n))
    tokens = training
    for ref, prompt, out, calls in parts:
        price = _price(ctx.state, ref, prompt, out, calls)
        dollars = sum_known(dollars, price)
        tokens += (prompt + out) * calls
    return Estimate(dollars=dollars, tokens=int(tokens))


def check_budget(config: LadderConfig, state: LadderState, rung: RungKind, estimate: Estimate) -> str | None:
    """Why ``rung`` must not start, or ``None`` when it fits the budget."""
    budget = config.budget
    if budget.max_dollars is not None:
        if state.spent is None:
            unknown = ", ".join(state.unknown_prices)
            return f"the dollar budget cannot be kept: an earlier cost is unknown ({unknown})"
        if estimate.dollars is None:
            return (
                f"the cost of {rung} is unknown (no price for its model), "
                f"so the ${budget.max_dollars:g} budget cannot be kept"
            )
        if state.spent + estimate.dollars > budget.max_dollars:
            return (
                f"{rung} is estimated at ${estimate.dollars:.4g}; with ${state.spent:.4g} spent "
                f"it would exceed the ${budget.max_dollars:g} budget"
            )
    if budget.max_tokens is not None and state.tokens + estimate.tokens > budget.max_tokens:
        return (
            f"{rung} is estimated at {estimate.tokens:,} tokens; with {state.tokens:,} used "
            f"it would exceed the {budget.max_tokens:,}-token budget"
        )
    return None


def estimate_curve(ctx: LadderContext, fractions: Sequence[float]) -> Estimate:
    """The learning curve's runs still to do: each fraction's training and its answers to the test split.

    A fraction's training is its subset's billed tokens x the full run's epochs, priced as the rung's
    training is; its answers are its fine-tuned model's, one per test case.
    """
    config = ctx.config
    completion = _completion_tokens(ctx)
    prompt = _prompt_tokens(ctx, ctx.test, None, 0)
    dollars: float | None = 0.0
    tokens = 0.0
    for fraction in fractions:
        billed = ctx.training.subset_report(fraction).billed_tokens_per_epoch * ctx.training.epochs()
        train = training_price(config, ctx.state, billed, _scaled(ctx.state.fine_tune, fraction))
        answers = _price(ctx.state, finetuned_price_ref(config, ctx.state), prompt, completion, len(ctx.test))
        dollars = sum_known(dollars, train, answers)
        tokens += billed + (prompt + completion) * len(ctx.test)
    return Estimate(dollars=dollars, tokens=int(tokens))


def _scaled(record: FineTuneRecord | None, factor: float) -> FineTuneRecord | None:
    """The rung's job record with its measured training time scaled by ``factor``.

    Local training time grows with the examples trained on; a record without a measured time is
    returned as it is.
    """
    if record is None or record.compute_s is None:
        return record
    return record.model_copy(update={"compute_s": record.compute_s * factor})


def projected_training(config: LadderConfig, state: LadderState, multiple: float) -> float | None:
    """Dollars to train the rung's job again on ``multiple`` x its data (same epochs), priced as the budget does.

    ``None`` when a price is unknown or the rung has no job.
    """
    record = state.fine_tune
    if record is None:
        return None
    billed = record.training_tokens * record.epochs * multiple
    return training_price(config, state, billed, _scaled(record, multiple))


def check_curve(config: LadderConfig, state: LadderState, used: Estimate, curve: Estimate) -> str | None:
    """Why the learning curve must not start, or ``None`` when it fits the budget.

    ``used`` is what the fine-tune rung has spent so far (not yet in ``state``), ``curve`` the curve's
    estimate. The rung itself is kept either way.
    """
    budget = config.budget
    spent = sum_known(state.spent, used.dollars)
    if budget.max_dollars is not None:
        if spent is None or curve.dollars is None:
            return f"its cost is unknown (no price for a model), so the ${budget.max_dollars:g} budget cannot be kept"
        if spent + curve.dollars > budget.max_dollars:
            return (
                f"it is estimated at ${curve.dollars:.4g}; with ${spent:.4g} spent "
                f"it would exceed the ${budget.max_dollars:g} budget"
            )
    tokens = state.tokens + used.tokens
    if budget.max_tokens is not None and tokens + curve.tokens > budget.max_tokens:
        return (
            f"it is estimated at {curve.tokens:,} tokens; with {tokens:,} used "
            f"it would exceed the {budget.max_tokens:,}-token budget"
        )
    return None

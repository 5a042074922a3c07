"""The ladder's answer: which rung to ship, what it costs per month, when a fine-tune pays back, what next.

A pure function of the config and the measured state, so the report can be rebuilt
from the output folder at any time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tunewise.costs import (
    BreakEven,
    CostEstimate,
    MeanUsage,
    UnknownCostError,
    break_even_from_usage,
    estimate,
    price,
    quote,
)
from tunewise.evaluation import SMALL_GROUP
from tunewise.ladder._budget import projected_training
from tunewise.ladder._config import LadderConfig
from tunewise.ladder._state import LadderState, MetricSummary, RungResult

PROMPT_RUNGS = ("zero_shot", "few_shot", "optimized_prompt", "rag")
"""Rungs without training: break-even weighs the best of them against the best fine-tune."""
FINE_TUNE_RUNGS = ("fine_tune", "rag_fine_tuned")


class RungCost(BaseModel):
    """A rung's running cost at the user's volume; ``None`` fields mean unknown, never zero."""

    model_config = ConfigDict(frozen=True)

    rung: str
    per_request: float | None
    per_1k_requests: float | None
    per_month: float | None
    priced_as: str | None


class Recommendation(BaseModel):
    """The decision with its reasons."""

    model_config = ConfigDict(frozen=True)

    chosen: str | None
    """The first rung whose lower confidence bound reached the target; ``None`` if none did."""
    best: str | None
    """The rung with the highest mean (the chosen one if any passed)."""
    reached_target: bool
    metric: str
    threshold: float
    confidence: float
    costs: dict[str, RungCost]
    break_even: BreakEven | None = None
    break_even_note: str | None = None
    reasons: list[str] = Field(default_factory=list)
    next_steps: list[str] = Field(default_factory=list)
    requests_per_month: float | None = None
    failure: str | None = None
    """``zero_shot failed: <cause> (7 of 7 test cases)`` when a rung's cases mostly failed with errors and
    stopped the ladder; the rungs measured before it are still priced and compared."""


def _fmt_money(value: float | None, digits: int = 4) -> str:
    return "unknown" if value is None else f"${value:,.{digits}f}"


def rung_cost(result: RungResult, requests_per_month: float | None) -> RungCost:
    """Cost per request, per 1k and per month (``tunewise.costs.estimate`` on the measured mean usage)."""
    found: CostEstimate | None = None
    if result.prompt_tokens is not None and result.completion_tokens is not None:
        usage = _mean_usage(result)
        if price(result.model, usage).known:  # then estimate() has nothing to warn about
            found = estimate(result.model, usage, requests_per_month=requests_per_month)
    if found is None:
        return RungCost(rung=result.rung, per_request=None, per_1k_requests=None, per_month=None, priced_as=None)
    return RungCost(
        rung=result.rung,
        per_request=found.per_request,
        per_1k_requests=found.per_1k_requests,
        per_month=found.per_month,
        priced_as=found.priced_as,
    )


def _mean_usage(result: RungResult) -> MeanUsage:
    """A rung's measured mean usage per request: tokens, and local compute time where it was measured."""
    return MeanUsage(
        prompt_tokens=result.prompt_tokens or 0.0,
        completion_tokens=result.completion_tokens or 0.0,
        compute_s=result.compute_s,
        compute_device=result.compute_device,
    )


def recommend(config: LadderConfig, state: LadderState) -> Recommendation:
    """Pick the rung, price every rung, compare the best fine-tune with the best prompt rung."""
    results = [state.results[r] for r in config.rungs if r in state.results]
    volume = config.requests_per_month
    costs = {r.rung: rung_cost(r, volume) for r in results}
    passed = [r for r in results if r.status == "passed"]
    chosen = passed[0] if passed else None
    best = chosen or (max(results, key=lambda r: r.mean) if results else None)
    metric = _metric_name(config)
    level = f"{config.target.confidence:.0%}"
    reasons: list[str] = []
    next_steps: list[str] = []
    if chosen is not None:
        reasons.extend(_chosen_reasons(config, results, chosen, costs[chosen.rung], metric))
    elif best is not None:
        reasons.append(
            f"No rung reached the target: the best, {best.rung}, has {metric} {best.mean:.3f} "
            f"with a {level} lower bound of {best.ci_low:.3f} < {config.target.threshold:g}."
        )
        if state.failure is None:  # a failed rung says nothing about what a stronger model or more data would do
            next_steps.extend(_next_steps(config, state, best))
    failure = state.failure
    if failure is not None:
        reasons.insert(
            0,
            f"The ladder stopped: {failure.summary()}. Its cases were not scored: errors are not a "
            "measure of the technique.",
        )
        next_steps.insert(
            0,
            "Fix the cause of the errors (see the errors by cause) and run the same command again: "
            f"finished rungs are kept and {failure.rung} runs again.",
        )
    shipped = chosen or best
    if shipped is not None:  # right after the headline: an overall pass can hide a kind of case that fails
        reasons[1:1] = _weak_groups(config, results, shipped, metric, chosen=chosen is not None)
    if state.stopped and state.stopped.startswith("budget"):
        reasons.append(f"The ladder stopped early: {state.stopped.removeprefix('budget: ')}.")
        next_steps.append("Raise the budget (max_dollars / max_tokens) and run the same command again: it resumes.")
    reasons.extend(_skipped_reasons(state))
    curve_reason, curve_step = _curve_advice(config, state, metric)
    if curve_reason is not None:
        reasons.append(curve_reason)
    if curve_step is not None and chosen is None and state.failure is None:
        next_steps[:] = [s for s in next_steps if not s.startswith("Improve the training data")]
        next_steps.insert(0, curve_step)
    breakeven, note = _break_even(config, state, results)
    return Recommendation(
        chosen=chosen.rung if chosen else None,
        best=best.rung if best else None,
        reached_target=chosen is not None,
        metric=metric,
        threshold=config.target.threshold,
        confidence=config.target.confidence,
        costs=costs,
        break_even=breakeven,
        break_even_note=note,
        reasons=reasons,
        next_steps=next_steps,
        requests_per_month=volume,
        failure=failure.summary() if failure is not None else None,
    )


def _chosen_reasons(
    config: LadderConfig, results: list[RungResult], chosen: RungResult, cost: RungCost, metric: str
) -> list[str]:
    """Why ``chosen`` is the pick: its lower bound against the target, the other rungs, what it costs."""
    level = f"{config.target.confidence:.0%}"
    volume = config.requests_per_month
    reasons = [
        f"{chosen.rung} is the cheapest rung tried whose {level} lower bound on {metric} "
        f"({chosen.ci_low:.3f}) reaches the target {config.target.threshold:g} "
        f"(mean {chosen.mean:.3f}, CI {chosen.ci_low:.3f}..{chosen.ci_high:.3f}, {chosen.n} test cases)."
    ]
    for r in (r for r in results if r is not chosen):
        if r.status == "passed":  # measured on past the target (stop_at_target = false): a dearer rung
            reasons.append(
                f"{r.rung} also reached the target (mean {r.mean:.3f}, lower bound {r.ci_low:.3f}) "
                f"but comes later on the ladder: {chosen.rung} is cheaper to build."
            )
            continue
        reasons.append(
            f"{r.rung} stayed below: mean {r.mean:.3f}, lower bound {r.ci_low:.3f} < {config.target.threshold:g}."
        )
    reasons.append(
        f"It costs {_fmt_money(cost.per_1k_requests)} per 1k requests"
        + (f" and {_fmt_money(cost.per_month, 2)} a month at {volume:,.0f} requests" if volume else "")
        + (f"; mean latency {chosen.latency_mean_s:.2f}s" if chosen.latency_mean_s is not None else "")
        + "."
    )
    return reasons


def _skipped_reasons(state: LadderState) -> list[str]:
    """The rungs not run and why (not repeating the stop or the failure), then the unknown prices."""
    failure = state.failure
    reasons = []
    for rung, why in state.skipped.items():
        if failure is not None and (rung == failure.rung or why.endswith(f"when {failure.rung} failed")):
            continue  # said once above
        if not (state.stopped and why in state.stopped):
            reasons.append(f"{rung} was not run: {why}.")
    if state.unknown_prices:
        reasons.append(
            "Unknown prices (costs shown as unknown, never zero): "
            + ", ".join(state.unknown_prices)
            + "; add them under [prices] in tunewise.toml."
        )
    return reasons


def _target(result: RungResult, group: str, metric: str) -> MetricSummary | None:
    """The target metric's summary on ``group`` (stored first among the group's metrics)."""
    found = result.groups.get(group)
    if found is None or not found.metrics:
        return None
    return found.metrics.get(metric) or next(iter(found.metrics.values()))


def _weak_groups(
    config: LadderConfig, results: list[RungResult], shipped: RungResult, metric: str, *, chosen: bool
) -> list[str]:
    """Groups where the recommended rung's mean is below the target, with a rung clearly better there.

    A chosen rung can pass overall and still fail one kind of case: every such group is named.
    When no rung passed, every group tends to fall short, so only groups where another rung does
    clearly better (its interval entirely above, in a group of at least ``SMALL_GROUP`` cases) are
    news. Only figures: means, numbers of cases and a warning for a small group; no test is claimed.
    """
    notes = []
    for group in shipped.groups:
        own = _target(shipped, group, metric)
        if own is None or own.mean >= config.target.threshold:
            continue
        others = [(r, s) for r in results if r is not shipped and (s := _target(r, group, metric)) is not None]
        # the bootstrap interval of a small group is too narrow to call another rung better
        clearly = [(r, s) for r, s in others if s.ci_low > own.ci_high and own.n >= SMALL_GROUP]
        rival = max(clearly, key=lambda pair: pair[1].mean, default=None)
        if not chosen and rival is None:
            continue
        extra = [f"{name} {m.mean:.2f}" for name, m in shipped.groups[group].metrics.items() if m is not own]
        text = (
            f"By {shipped.group_by}: {shipped.rung} falls short on {group} "
            f"({metric} {own.mean:.2f} over {own.n} cases{', ' + ', '.join(extra) if extra else ''}; "
            f"target {config.target.threshold:g})"
        )
        if rival is not None:
            text += f", where {rival[0].rung} scores {rival[1].mean:.2f}"
        if own.n < SMALL_GROUP:
            text += f"; with {own.n} cases this is a hint, not a finding"
        notes.append(text + ".")
    return notes


def _metric_name(config: LadderConfig) -> str:
    spec = config.target.metric
    if isinstance(spec, str):
        return spec
    return str(spec.get("name", spec.get("type", "metric")))


def _break_even(
    config: LadderConfig, state: LadderState, results: list[RungResult]
) -> tuple[BreakEven | None, str | None]:
    prompts = [r for r in results if r.rung in PROMPT_RUNGS]
    tuned = [r for r in results if r.rung in FINE_TUNE_RUNGS]
    if not prompts or not tuned:
        return None, "break-even needs both a prompt rung and a fine-tune rung measured"
    if config.requests_per_month is None:
        return None, "set requests_per_month in the ladder config to project break-even"
    prompt = max(prompts, key=lambda r: r.mean)
    fine = max(tuned, key=lambda r: r.mean)
    if None in (prompt.prompt_tokens, prompt.completion_tokens, fine.prompt_tokens, fine.completion_tokens):
        return None, "token counts were not reported, so break-even is unknown"
    if quote(prompt.model) is None or quote(fine.model) is None:
        return None, f"break-even of {fine.rung} vs {prompt.rung} is unknown: a price is missing"
    record = state.fine_tune
    try:
        result = break_even_from_usage(
            prompt_model=prompt.model,
            prompt_usage=_mean_usage(prompt),
            finetuned_model=fine.model,
            finetuned_usage=_mean_usage(fine),
            requests_per_month=config.requests_per_month,
            training_cost=fine.training_cost,
            training_tokens=float(record.training_tokens) if record and fine.training_cost is None else None,
            epochs=float(record.epochs) if record and fine.training_cost is None else None,
            strict=True,
        )
    except UnknownCostError as exc:
        return None, f"break-even of {fine.rung} vs {prompt.rung} is unknown: {exc}"
    assert result is not None  # strict: unknown raises
    return result, f"{fine.rung} ({fine.model}) against {prompt.rung} ({prompt.model})"


def _next_steps(config: LadderConfig, state: LadderState, best: RungResult) -> list[str]:
    steps: list[str] = []
    gap = config.target.threshold - best.ci_low
    if best.mean >= config.target.threshold:
        steps.append(
            f"{best.rung}'s mean ({best.mean:.3f}) already meets the target but its interval is wide; "
            f"more test cases (now {best.n}) would narrow it - roughly {max(best.n * 2, best.n + 50)} cases."
        )
    tried = set(state.results)
    if "fine_tune" not in tried and "fine_tune" not in config.rungs:
        steps.append("Add the fine_tune rung: prompting alone did not get there.")
    if "fine_tune" in tried:
        steps.append(
            "Improve the training data: more and more varied examples in the house style, "
            f"or more epochs (now {config.fine_tune.epochs})."
        )
    if "rag_fine_tuned" not in config.rungs and config.retrieval.knowledge_base is not None:
        steps.append("Add the rag_fine_tuned rung: answers may need facts only the knowledge base has.")
    elif "rag_fine_tuned" in tried:
        hybrid = "" if config.retrieval.retriever == "hybrid" else ", or try the hybrid retriever"
        steps.append(f"Check retrieval: raise retrieval.k or lower retrieval.threshold{hybrid}.")
    steps.append(f"Try a stronger base model (now {config.models.base}) with --model.")
    if gap > 0.2:
        steps.append("Check the metric and references: a gap this large often means the metric misjudges good answers.")
    return steps


def _curve_advice(config: LadderConfig, state: LadderState, metric: str) -> tuple[str | None, str | None]:
    """The learning curve's reason and next step, or why it was not measured.

    Either collect about N more examples (+X expected at 2x, with its interval, and the larger run's
    training cost), or more data is unlikely to help.
    """
    curve = state.learning_curve
    if curve is None:
        return None, None
    if curve.skipped is not None:
        return f"The learning curve was not measured: {curve.skipped}.", None
    fit = curve.fit
    if fit is None:
        return None, None
    level = f"{fit.confidence:.0%}"
    runs = ", ".join(f"{n} examples {m:.3f}" for n, m in zip(fit.sizes, fit.means, strict=True))
    head = f"Learning curve of fine_tune ({metric} on {fit.cases} test cases: {runs})"
    if fit.flat:
        return (
            f"{head}: more data is unlikely to help: {fit.why}.",
            "More training data is unlikely to help (the learning curve is flat within noise): "
            "try a stronger base model (--model) or retrieval (the rag and rag_fine_tuned rungs).",
        )
    near, far = fit.at(2.0), fit.at(4.0)
    if near is None:
        return f"{head}: {fit.why}.", None
    cost = projected_training(config, state, near.multiple)
    priced = "unknown" if cost is None else f"about ${cost:,.4g}"
    more = near.n - fit.n_max
    expect = (
        f"+{near.gain:.3f} expected at {near.multiple:g}x ({near.n} examples: {metric} {near.mean:.3f}, "
        f"{level} interval {near.low:.3f}..{near.high:.3f}; gain {near.gain_low:+.3f}..{near.gain_high:+.3f})"
    )
    if far is not None:
        expect += f", +{far.gain:.3f} at {far.multiple:g}x ({far.gain_low:+.3f}..{far.gain_high:+.3f})"
    step = f"Collect about {more} more examples: {expect}; training on {near.n} examples costs {priced}."
    return f"{head}: the curve is still rising. {step}", step

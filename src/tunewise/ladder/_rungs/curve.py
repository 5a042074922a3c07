"""The fine-tune rung's learning curve: would more training data pay?

After the rung's own job (the whole training set), the smaller fractions of ``fine_tune.learning_curve``
are trained on nested subsets (one fixed shuffle: the 25% subset is inside the 50% one) with the
same recipe (the full run's epochs, seed and options), each measured on the test split like the rung.
The curve is fitted to the per-case scores (`tunewise.ladder._curve`) and kept in the state.

Every run is recorded as it goes: a killed ladder re-attaches to a job in flight and never retrains a
finished fraction. The curve is optional, so its own troubles (a budget too small for it, subsets too
small for the provider, a failed job, errors) skip the curve with the reason, never the rung.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tunewise._errors import BudgetExceededError, FineTuneError
from tunewise.costs import sum_known
from tunewise.evaluation import mean_ci
from tunewise.ladder._budget import Estimate, check_curve, estimate_curve, training_price
from tunewise.ladder._curve import CurveFit, fit_curve
from tunewise.ladder._measure import RungFailed, case_score, spend_of
from tunewise.ladder._rungs.jobs import Job, train
from tunewise.ladder._state import CurvePoint, FineTuneRecord, LearningCurve
from tunewise.strategies import FineTuned

if TYPE_CHECKING:
    from tunewise._refs import ModelRef
    from tunewise.evaluation import CaseResult
    from tunewise.interfaces.finetune import FineTuner
    from tunewise.ladder._context import LadderContext

MIN_OPENAI_EXAMPLES = 10
"""OpenAI refuses a fine-tune on fewer examples (the data toolkit's ``MIN_EXAMPLES``)."""


def percent(fraction: float) -> str:
    """``25%``, ``12.5%``: a fraction as the report and the events name it."""
    return f"{fraction * 100:.4g}%"


async def learning_curve(
    ctx: LadderContext,
    tuner: FineTuner,
    base: ModelRef,
    full: Sequence[CaseResult],
    training: float | None,
    billed: int,
) -> tuple[float | None, int, str]:
    """Measure the curve's smaller fractions and fit it, after the rung's own run.

    The rung's own run is ``full``, which cost ``training`` dollars for ``billed`` tokens. Returns what
    the curve's runs spent (dollars, ``None`` when a price is unknown, and tokens) and a note for the
    rung's details.
    """
    curve = ctx.state.learning_curve
    if curve is None:
        curve = ctx.state.learning_curve = LearningCurve(fractions=list(ctx.config.fine_tune.curve_fractions))
    _full_point(ctx, curve, full, training)
    if curve.skipped is None and curve.fit is None:
        used_dollars, used_tokens = spend_of(full)
        paid = sum_known(used_dollars, training)
        why = _cannot_start(ctx, base, curve, Estimate(dollars=paid, tokens=used_tokens + billed))
        if why is None:
            why = await _climb_curve(ctx, tuner, base, curve, full)
        if why is not None:
            curve.skipped = why
            ctx.event(f"fine_tune: learning curve not measured: {why}")
        ctx.save()
    runs = [p for p in curve.points if p.fraction < 1 and p.done]
    dollars = sum_known(*(p.spent for p in runs))
    tokens = sum(p.tokens for p in runs)
    return dollars, tokens, _note(curve)


def _full_point(ctx: LadderContext, curve: LearningCurve, full: Sequence[CaseResult], training: float | None) -> None:
    """The curve's 1.0 point: the rung's own run, measured as the rung is."""
    scores = ctx.scoring.score(full)
    mean, low, high = mean_ci(scores, confidence=ctx.config.target.confidence)
    point = CurvePoint(
        fraction=1.0,
        examples=len(ctx.training.rows()),
        run_id=full[0].run_id if full else None,
        mean=mean,
        ci_low=low,
        ci_high=high,
        training_cost=training,
        done=True,
    )
    curve.points = sorted([p for p in curve.points if p.fraction != 1.0] + [point], key=lambda p: p.fraction)


def _cannot_start(ctx: LadderContext, base: ModelRef, curve: LearningCurve, used: Estimate) -> str | None:
    """Why the curve's remaining runs must not start, or ``None`` when they may.

    Subsets that are not distinct or too small for the provider, or a budget they would not fit
    (``used``: what the rung spent so far).
    """
    sizes = {f: len(ctx.training.subset(f)) for f in curve.fractions}
    if len(set(sizes.values())) < len(sizes):
        shown = ", ".join(f"{percent(f)}: {n}" for f, n in sizes.items())
        return f"the training set is too small for these fractions (examples per run: {shown})"
    smallest = min(sizes, key=sizes.__getitem__)
    if base.prefix == "openai" and sizes[smallest] < MIN_OPENAI_EXAMPLES:
        return (
            f"the {percent(smallest)} run would have {sizes[smallest]} examples; OpenAI needs at least "
            f"{MIN_OPENAI_EXAMPLES} (use more training data or larger fractions)"
        )
    todo = [f for f in curve.fractions if f < 1 and not _done(curve, f)]
    done = [p for p in curve.points if p.fraction < 1 and p.done]
    for p in done:  # runs finished before a kill count as spent by this rung
        used = Estimate(dollars=sum_known(used.dollars, p.spent), tokens=used.tokens + p.tokens)
    expected = estimate_curve(ctx, todo)
    why = check_curve(ctx.config, ctx.state, used, expected)
    if why is None and todo:
        cost = "unknown cost" if expected.dollars is None else f"${expected.dollars:.4g}"
        ctx.event(f"fine_tune: learning curve on {', '.join(percent(f) for f in todo)} (estimated {cost})")
    return None if why is None else f"the budget: {why}"


def _done(curve: LearningCurve, fraction: float) -> bool:
    found = curve.point(fraction)
    return found is not None and found.done


async def _climb_curve(
    ctx: LadderContext, tuner: FineTuner, base: ModelRef, curve: LearningCurve, full: Sequence[CaseResult]
) -> str | None:
    """Train and measure each smaller fraction not done yet, then fit; why it stopped, or ``None``."""
    try:
        for fraction in curve.fractions:
            if fraction < 1 and not _done(curve, fraction):
                await _run(ctx, tuner, base, curve, fraction)
    except BudgetExceededError as exc:
        return f"the budget ran out during it: {exc}"
    except RungFailed as exc:
        return f"its test evaluation failed: {exc}"
    except FineTuneError as exc:
        point = next(p for p in curve.points if not p.done)
        if point.job is not None and point.job.status in ("failed", "cancelled"):
            return f"the {percent(point.fraction)} run's fine-tune failed: {exc}"
        raise  # still running: the rung stops and the next run keeps waiting for the same job
    fit = curve.fit = _fit(ctx, curve, full)
    ctx.event(f"fine_tune: learning curve: {fit.why}")
    return None


async def _run(ctx: LadderContext, tuner: FineTuner, base: ModelRef, curve: LearningCurve, fraction: float) -> None:
    """One fraction: its job (started, or re-attached by the id in the state), then its test evaluation."""
    point = curve.point(fraction)
    if point is None:
        point = CurvePoint(fraction=fraction, examples=len(ctx.training.subset(fraction)))
        curve.points = sorted([*curve.points, point], key=lambda p: p.fraction)
    name = f"fine_tune_{fraction * 100:.4g}pct".replace(".", "_")
    job = Job(
        label=f"fine_tune {percent(fraction)}",
        file=ctx.config.out / f"{name}_train.jsonl",
        rows=ctx.training.subset(fraction),
        tokens=lambda: ctx.training.subset_report(fraction).billed_tokens_per_epoch,
        epochs=ctx.training.epochs(),
        explicit_epochs=True,
    )

    def keep(record: FineTuneRecord) -> None:
        point.job = record

    record = await train(ctx, tuner, base, job, point.job, keep)
    billed = record.training_tokens * record.epochs
    paid = training_price(ctx.config, ctx.state, billed, record)
    ctx.pay(paid)
    strategy = FineTuned(ctx.model(record.model or ""), name=name, **ctx.config.options)
    results = await ctx.evaluate(strategy, ctx.test, f"ladder-{name}")
    mean, low, high = mean_ci(ctx.scoring.score(results), confidence=ctx.config.target.confidence)
    dollars, tokens = spend_of(results)
    point.run_id = results[0].run_id if results else None
    point.mean, point.ci_low, point.ci_high = mean, low, high
    point.training_cost = paid
    point.spent = sum_known(dollars, paid)
    point.tokens = tokens + billed
    point.done = True
    ctx.save()
    ctx.event(f"fine_tune {percent(fraction)}: {ctx.metric.name} {mean:.3f} ({point.examples} examples)")


def _fit(ctx: LadderContext, curve: LearningCurve, full: Sequence[CaseResult]) -> CurveFit:
    """The curve fitted to the per-case scores, paired: only the test cases every run scored."""
    name = ctx.metric.name
    by_run = []
    for p in curve.points:
        results = full if p.fraction == 1.0 else ctx.store.results(p.run_id or "")
        by_run.append(_by_case(results, name))
    shared = [case for case in by_run[-1] if all(case in run for run in by_run)]
    return fit_curve(
        [p.examples for p in curve.points],
        [[run[case] for case in shared] for run in by_run],
        confidence=ctx.config.target.confidence,
        seed=ctx.config.fine_tune.seed or 0,
    )


def _by_case(results: Sequence[CaseResult], metric: str) -> dict[str, float]:
    """The metric per test case, as the rung's mean counts it (an error is 0; not applicable: left out)."""
    return {r.case_id: case_score(r, metric) for r in results if not r.not_applicable(metric)}


def _note(curve: LearningCurve) -> str:
    """The rung details' line on its learning curve."""
    if curve.skipped is not None:
        return f"learning curve not measured: {curve.skipped}"
    runs = ", ".join(f"{percent(p.fraction)} ({p.examples} examples)" for p in curve.points)
    verdict = "flat" if curve.fit is not None and curve.fit.flat else "rising"
    return f"learning curve on {runs}: {verdict}"

"""The ``fine_tune`` rung: start (or re-attach to) a fine-tune job, wait for it, test the trained model.

The job id is saved before waiting, so a killed ladder re-attaches to the same job instead of paying
for a second one. With ``fine_tune.learning_curve``, the rung then trains on smaller nested fractions of
the training set as well and fits a learning curve (`tunewise.ladder._rungs.curve`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise._errors import DataError
from tunewise._refs import ModelRef
from tunewise.costs import sum_known
from tunewise.ladder._budget import training_price
from tunewise.ladder._rungs.curve import learning_curve
from tunewise.ladder._rungs.jobs import Job, train
from tunewise.strategies import FineTuned

if TYPE_CHECKING:
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult


async def fine_tune(ctx: LadderContext) -> RungResult:
    """Start (or re-attach to) the fine-tune job, wait for it, then evaluate the trained model."""
    base = ModelRef.parse(ctx.config.fine_tune_base)
    tuner = ctx.provider(base.prefix).fine_tuner()
    rows = ctx.training.rows()
    if not rows and (ctx.state.fine_tune is None or ctx.state.fine_tune.status in ("failed", "cancelled")):
        raise DataError("no training example has a reference answer", path=ctx.train_path)
    job = Job(
        label="fine_tune",
        file=ctx.config.out / "fine_tune_train.jsonl",
        rows=rows,
        tokens=ctx.training.tokens,
        epochs=ctx.training.epochs(),
        explicit_epochs=False,
    )
    record = await train(ctx, tuner, base, job, ctx.state.fine_tune, lambda r: setattr(ctx.state, "fine_tune", r))
    billed = record.training_tokens * record.epochs
    training = training_price(ctx.config, ctx.state, billed, record)
    ctx.pay(training)
    strategy = FineTuned(ctx.model(record.model or ""), name="fine_tune", **ctx.config.options)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-fine_tune")
    notes = [
        f"job {record.job_id}: {record.training_tokens:,} billed training tokens per epoch x {record.epochs} epochs"
    ]
    if training is None:
        notes.append(f"no training price known for {ctx.config.fine_tune_base}: training cost unknown")
    extra_dollars, extra_tokens = training, billed
    if ctx.config.fine_tune.curve_fractions:
        curve_dollars, curve_tokens, note = await learning_curve(ctx, tuner, base, results, training, billed)
        extra_dollars = sum_known(extra_dollars, curve_dollars)
        extra_tokens += curve_tokens
        notes.append(note)
    return ctx.scoring.measure(
        "fine_tune",
        strategy,
        record.model or "",
        results,
        extra_dollars=extra_dollars,
        extra_tokens=extra_tokens,
        training_cost=training,
        notes=notes,
    )

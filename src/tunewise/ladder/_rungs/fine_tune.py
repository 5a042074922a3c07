"""The ``fine_tune`` rung: start (or re-attach to) a fine-tune job, wait for it, test the trained model.

The job id is saved before waiting, so a killed ladder re-attaches to the same job instead of paying
for a second one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tunewise._errors import DataError, FineTuneError
from tunewise._refs import ModelRef
from tunewise.interfaces.finetune import FineTuneSpec
from tunewise.ladder._budget import training_price
from tunewise.ladder._state import FineTuneRecord
from tunewise.strategies import FineTuned

if TYPE_CHECKING:
    from tunewise.interfaces.finetune import FineTuneJob, FineTuner
    from tunewise.ladder._context import LadderContext
    from tunewise.ladder._state import RungResult


async def fine_tune(ctx: LadderContext) -> RungResult:
    """Start (or re-attach to) the fine-tune job, wait for it, then evaluate the trained model."""
    base = ModelRef.parse(ctx.config.fine_tune_base)
    tuner = ctx.provider(base.prefix).fine_tuner()
    record = ctx.state.fine_tune
    if record is None or record.status in ("failed", "cancelled"):
        job, record = await _start(ctx, tuner, base, record)
    else:
        job = await tuner.attach(record.job_id)
        ctx.event(f"fine_tune: re-attached to job {record.job_id} ({job.status})")
    if record.model is None:
        await _wait(ctx, job, record)
    assert record.model is not None
    billed = record.training_tokens * record.epochs
    training = training_price(ctx.config, ctx.state, billed, record)
    ctx.pay(training)
    strategy = FineTuned(ctx.model(record.model), name="fine_tune", **ctx.config.options)
    results = await ctx.evaluate(strategy, ctx.test, "ladder-fine_tune")
    notes = [
        f"job {record.job_id}: {record.training_tokens:,} billed training tokens per epoch x {record.epochs} epochs"
    ]
    if training is None:
        notes.append(f"no training price known for {ctx.config.fine_tune_base}: training cost unknown")
    return ctx.scoring.measure(
        "fine_tune",
        strategy,
        record.model,
        results,
        extra_dollars=training,
        extra_tokens=billed,
        training_cost=training,
        notes=notes,
    )


async def _start(
    ctx: LadderContext, tuner: FineTuner, base: ModelRef, failed: FineTuneRecord | None
) -> tuple[FineTuneJob, FineTuneRecord]:
    """Write the training file, start a job on it and save its record (after a ``failed`` one, if any)."""
    config = ctx.config
    previous = [*failed.previous_jobs, failed.job_id] if failed is not None else []
    rows = ctx.training.rows()
    if not rows:
        raise DataError("no training example has a reference answer", path=ctx.train_path)
    file = config.out / "fine_tune_train.jsonl"
    file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    spec = FineTuneSpec(
        base_model=str(base).split(":", 1)[1],
        training_file=file,
        n_epochs=config.fine_tune.epochs,
        batch_size=config.fine_tune.batch_size,
        learning_rate_multiplier=config.fine_tune.learning_rate_multiplier,
        learning_rate=config.fine_tune.learning_rate,
        seed=config.fine_tune.seed,
        suffix=config.fine_tune.suffix,
        options=dict(config.fine_tune.options),
    )
    job = await tuner.start(spec)
    record = FineTuneRecord(
        job_id=job.id,
        base_model=str(base),
        training_file=str(file),
        training_tokens=ctx.training.tokens(),
        epochs=ctx.training.epochs(),
        previous_jobs=previous,
    )
    ctx.state.fine_tune = record
    ctx.save()
    ctx.event(f"fine_tune: started job {job.id} on {base}")
    return job, record


async def _wait(ctx: LadderContext, job: FineTuneJob, record: FineTuneRecord) -> None:
    """Wait for the job; record the trained model (and a local job's measured training time)."""
    settings = ctx.config.fine_tune
    try:
        trained = await job.wait(poll_interval=settings.poll_interval, timeout=settings.timeout)
    except (TimeoutError, FineTuneError) as exc:
        status = job.status
        if status in ("failed", "cancelled"):
            record.status = status
            ctx.save()
            raise FineTuneError(
                f"job {record.job_id} {status}: {job.error or exc}; run the ladder again to start a new job"
            ) from None
        raise FineTuneError(
            f"job {record.job_id} still {status} after waiting; run the ladder again to keep waiting"
        ) from None
    record.model = str(trained)
    record.status = "succeeded"
    metrics = getattr(job, "metrics", None)  # a local job reports its training time on this machine
    if isinstance(metrics, dict) and isinstance(metrics.get("compute_s"), int | float):
        record.compute_s = float(metrics["compute_s"])
        device = metrics.get("compute_device")
        record.compute_device = device if isinstance(device, str) else None
    ctx.save()
    ctx.event(f"fine_tune: job {record.job_id} succeeded: {record.model}")

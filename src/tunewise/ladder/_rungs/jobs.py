"""Fine-tune jobs of the ladder, shared by the ``fine_tune`` rung and its learning curve.

Write the training file, start a job (or re-attach to the one recorded in the state), wait for it,
record the trained model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import FineTuneError
from tunewise.interfaces.finetune import FineTuneSpec
from tunewise.ladder._state import FineTuneRecord

if TYPE_CHECKING:
    from tunewise._refs import ModelRef
    from tunewise.interfaces.finetune import FineTuneJob, FineTuner
    from tunewise.ladder._context import LadderContext


class Job:
    """What one fine-tune job trains on: its file and rows, their billed tokens per epoch, and its epochs."""

    def __init__(
        self,
        *,
        label: str,
        file: Path,
        rows: Sequence[dict[str, Any]],
        tokens: Callable[[], int],
        epochs: int,
        explicit_epochs: bool,
    ) -> None:
        self.label, self.file, self.rows, self.tokens, self.epochs = label, file, rows, tokens, epochs
        self.explicit_epochs = explicit_epochs
        """Send ``epochs`` to the provider even when the config leaves them to it (the curve's runs)."""


async def train(
    ctx: LadderContext,
    tuner: FineTuner,
    base: ModelRef,
    job: Job,
    record: FineTuneRecord | None,
    keep: Callable[[FineTuneRecord], None],
) -> FineTuneRecord:
    """The trained job of ``record``.

    Started afresh (none yet, or the last one failed), or re-attached and waited for. ``keep`` puts a
    new record in the state, which is saved before waiting.
    """
    if record is None or record.status in ("failed", "cancelled"):
        started, record = await _start(ctx, tuner, base, job, record)
        keep(record)
        ctx.save()
        ctx.event(f"{job.label}: started job {record.job_id} on {base}")
    else:
        started = await tuner.attach(record.job_id)
        ctx.event(f"{job.label}: re-attached to job {record.job_id} ({started.status})")
    if record.model is None:
        await _wait(ctx, started, record, job.label)
    return record


async def _start(
    ctx: LadderContext, tuner: FineTuner, base: ModelRef, job: Job, failed: FineTuneRecord | None
) -> tuple[FineTuneJob, FineTuneRecord]:
    """Write the training file and start a job on it (after a ``failed`` one, if any)."""
    config = ctx.config
    previous = [*failed.previous_jobs, failed.job_id] if failed is not None else []
    job.file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in job.rows), encoding="utf-8")
    spec = FineTuneSpec(
        base_model=str(base).split(":", 1)[1],
        training_file=job.file,
        n_epochs=job.epochs if job.explicit_epochs else config.fine_tune.epochs,
        batch_size=config.fine_tune.batch_size,
        learning_rate_multiplier=config.fine_tune.learning_rate_multiplier,
        learning_rate=config.fine_tune.learning_rate,
        seed=config.fine_tune.seed,
        suffix=config.fine_tune.suffix,
        options=dict(config.fine_tune.options),
    )
    started = await tuner.start(spec)
    record = FineTuneRecord(
        job_id=started.id,
        base_model=str(base),
        training_file=str(job.file),
        training_tokens=job.tokens(),
        epochs=job.epochs,
        previous_jobs=previous,
    )
    return started, record


async def _wait(ctx: LadderContext, job: FineTuneJob, record: FineTuneRecord, label: str) -> None:
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
    ctx.event(f"{label}: job {record.job_id} succeeded: {record.model}")

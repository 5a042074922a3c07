"""The ladder's state file: what is done, what is in flight, what was spent; rewritten atomically.

It lives in the output folder next to the run store. A ladder killed at any moment
resumes from it: finished rungs are read back, not run again; an optimizer round
re-scores the candidates it had already written (their answers come back from the run
store); a fine-tune job recorded here is re-attached, never started twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tunewise._errors import ConfigError
from tunewise.costs import sum_known
from tunewise.evaluation import ErrorCause
from tunewise.ladder._curve import CurveFit


class MetricSummary(BaseModel):
    """One metric over some test cases: how many it scored, the mean and its confidence interval."""

    n: int
    """Cases scored (cases where the metric does not apply are left out; errors count as 0)."""
    mean: float
    ci_low: float
    ci_high: float


class GroupResult(BaseModel):
    """A rung's scores on one group of test cases (``kind = "kb"``)."""

    n: int
    """Test cases in the group."""
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    """The target metric first, then the report's other metrics."""


class RungResult(BaseModel):
    """One rung, measured on the test split."""

    rung: str
    strategy: str
    run_id: str
    model: str
    status: Literal["passed", "below_target", "error"]
    n: int
    errors: int = 0
    mean: float
    ci_low: float
    ci_high: float
    confidence: float
    cost_per_request: float | None
    """Mean measured cost of one answer on the test split; ``None`` when a price is unknown."""
    prompt_tokens: float | None
    completion_tokens: float | None
    compute_s: float | None = None
    """Mean seconds of local compute per request (a model priced by compute time), else ``None``."""
    compute_device: str | None = None
    latency_mean_s: float | None
    latency_p95_s: float | None
    spent: float | None
    """Everything this rung cost to find out (test and dev evaluations, instruction writing, training)."""
    tokens: int
    training_cost: float | None = None
    system_prompt: str | None = None
    notes: list[str] = Field(default_factory=list)
    metrics: dict[str, MetricSummary] = Field(default_factory=dict)
    """The report's other metrics (``[report] metrics``) on the whole test split."""
    group_by: str | None = None
    """The case metadata key ``groups`` are split by."""
    groups: dict[str, GroupResult] = Field(default_factory=dict)
    """Scores per group of test cases, groups in the order the test split first shows them."""
    causes: list[ErrorCause] = Field(default_factory=list)
    """The test cases that failed with an error (they count as 0), grouped by cause."""


class RungFailure(BaseModel):
    """A rung whose cases mostly failed with errors: the ladder stopped there instead of scoring it.

    "Mostly": more than half of the rung's cases failed, or an error that every case would hit
    (bad credentials, a model, plugin or key that does not exist) stopped its run early.
    """

    rung: str
    cause: str
    """The most frequent cause (see `tunewise.evaluation.ErrorCause`)."""
    errors: int
    cases: int
    split: str = "test"
    """The split whose evaluation failed: ``test``, or ``dev`` (the instruction search)."""
    stopped_early: bool = False
    """An error every case would hit stopped the evaluation: the cases after it were not run."""
    causes: list[ErrorCause] = Field(default_factory=list)

    def summary(self) -> str:
        """``zero_shot failed: <cause> (7 of 7 test cases)``."""
        rest = "; the rest not run" if self.stopped_early else ""
        return f"{self.rung} failed: {self.cause} ({self.errors} of {self.cases} {self.split} cases{rest})"

    def status(self) -> str:
        """The rung's status cell: ``failed: 7 of 7 test cases errored``."""
        rest = ", the rest not run" if self.stopped_early else ""
        return f"failed: {self.errors} of {self.cases} {self.split} cases errored{rest}"


class FineTuneRecord(BaseModel):
    job_id: str
    base_model: str
    training_file: str
    training_tokens: int
    epochs: int
    model: str | None = None
    status: str = "started"
    """``started``, ``succeeded``, or ``failed``/``cancelled`` (the next run starts a new job)."""
    previous_jobs: list[str] = Field(default_factory=list)
    """Jobs that failed before this one."""
    compute_s: float | None = None
    """Seconds the job trained on this machine (a local fine-tune, all resumes together)."""
    compute_device: str | None = None


class CurvePoint(BaseModel):
    """One run of the learning curve: a fraction of the training set, trained and measured on the test split."""

    fraction: float
    examples: int
    """Training examples in this run (a nested subset: each smaller one is inside the larger ones)."""
    job: FineTuneRecord | None = None
    """The fraction's fine-tune job; ``None`` for 1.0, which is the rung's own job (``LadderState.fine_tune``)."""
    run_id: str | None = None
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    training_cost: float | None = None
    spent: float | None = 0.0
    """Training and test evaluation of this run; ``None`` when a price is unknown."""
    tokens: int = 0
    done: bool = False


class LearningCurve(BaseModel):
    """The fine-tune rung's learning curve: its runs, the fitted curve, or why it was not measured."""

    fractions: list[float]
    points: list[CurvePoint] = Field(default_factory=list)
    fit: CurveFit | None = None
    skipped: str | None = None
    """Why the curve was not measured or not finished (budget, too few examples, a failed job)."""

    def point(self, fraction: float) -> CurvePoint | None:
        return next((p for p in self.points if p.fraction == fraction), None)


class Candidate(BaseModel):
    instruction: str
    round: int
    run_id: str | None = None
    dev_score: float | None = None


class LadderState(BaseModel):
    """Everything the ladder has learned so far; the single source of truth for resuming."""

    fingerprint: str
    results: dict[str, RungResult] = Field(default_factory=dict)
    skipped: dict[str, str] = Field(default_factory=dict)
    """Rungs not run, and why (target already reached, budget)."""
    spent: float | None = 0.0
    """Dollars spent so far; ``None`` once any price was unknown."""
    tokens: int = 0
    fine_tune: FineTuneRecord | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    stopped: str | None = None
    failure: RungFailure | None = None
    """The rung that failed with errors and stopped the ladder; ``None`` when none did."""
    unknown_prices: list[str] = Field(default_factory=list)
    learning_curve: LearningCurve | None = None
    """The fine-tune rung's learning curve (``fine_tune.learning_curve``), finished or in flight."""

    @classmethod
    def load(cls, path: Path, fingerprint: str) -> LadderState:
        if not path.is_file():
            return cls(fingerprint=fingerprint)
        try:
            state = cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path}: unreadable ladder state ({' '.join(str(exc).split())[:200]})") from None
        if state.fingerprint != fingerprint:
            raise ConfigError(
                f"{path.parent}: holds a ladder with a different config or data; "
                "choose another --out folder (or delete this one) to start afresh"
            )
        return state

    def save(self, path: Path) -> None:
        """Write to a temporary file and rename: a kill mid-write leaves the previous state intact."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(self.model_dump_json(indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def add_spend(self, dollars: float | None, tokens: int) -> None:
        self.spent = sum_known(self.spent, dollars)
        self.tokens += tokens

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data

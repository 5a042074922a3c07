"""A rung's results turned into its numbers: the target metric's mean and interval, spend, usage, groups.

Pure functions over stored [`CaseResult`][tunewise.evaluation.CaseResult] rows; the ladder's context holds one
[`Scoring`][tunewise.ladder._measure.Scoring] with the metrics and the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError
from tunewise.costs import sum_known
from tunewise.evaluation import error_causes, mean_ci, normalize_error, split_by_group
from tunewise.ladder._config import RungKind
from tunewise.ladder._state import GroupResult, MetricSummary, RungFailure, RungResult

if TYPE_CHECKING:
    from tunewise.evaluation import CaseResult, Metric
    from tunewise.interfaces.strategy import Strategy


class RungFailed(Exception):
    """Raised inside the ladder when a rung's evaluation mostly failed; the climb stops on it."""

    def __init__(self, failure: RungFailure) -> None:
        super().__init__(failure.summary())
        self.failure = failure


def failure_of(results: Sequence[CaseResult], cases: int, *, stopped: str | None, split: str) -> RungFailure | None:
    """The failure of an evaluation whose cases mostly errored, else ``None``.

    Mostly: more than half of its ``cases`` failed with an error, or an error every case would hit
    alike stopped the run early (``stopped``, from [`RunSummary`][tunewise.evaluation.RunSummary]).
    A few failed cases (a prompt too long for the context) count as 0 and the rung is scored.
    """
    causes = error_causes(results)
    errors = sum(c.count for c in causes)
    if stopped is None and errors * 2 <= cases:
        return None
    cause = normalize_error(stopped) if stopped is not None else causes[0].cause
    return RungFailure(
        rung="", cause=cause, errors=errors, cases=cases, split=split, stopped_early=stopped is not None, causes=causes
    )


def metric_values(results: Sequence[CaseResult], name: str) -> list[float]:
    """``name``'s score per case, never optimistic.

    A case that failed with an error, or whose scoring failed, counts as 0; a case the metric does not
    apply to is left out.
    """
    return [case_score(r, name) for r in results if not r.not_applicable(name)]


def case_score(result: CaseResult, name: str) -> float:
    """``name``'s score of one case as the ladder counts it: 0 when the case or its scoring failed."""
    return result.scores.get(name, 0.0) if result.status == "ok" else 0.0


def summarize(results: Sequence[CaseResult], name: str, confidence: float) -> MetricSummary | None:
    """``name`` over ``results``: n, mean and bootstrap interval; ``None`` when it applies to none of them."""
    values = metric_values(results, name)
    if not values:
        return None
    mean, low, high = mean_ci(values, confidence=confidence)
    return MetricSummary(n=len(values), mean=mean, ci_low=low, ci_high=high)


def spend_of(results: Sequence[CaseResult]) -> tuple[float | None, int]:
    """Dollars (answers plus scoring; ``None`` when one is unknown) and tokens of the answered cases."""
    dollars: float | None = 0.0
    tokens = 0
    for r in results:
        if r.status != "ok":
            continue
        dollars = sum_known(dollars, r.cost, r.scoring_cost)
        tokens += (r.usage.prompt_tokens or 0) + (r.usage.completion_tokens or 0)
    return dollars, tokens


def usage_means(ok: Sequence[CaseResult]) -> dict[str, Any]:
    """Per-request means of the answered cases (``None`` where one case lacks the figure), and latency."""
    costs = [r.cost for r in ok]
    compute = [r.usage.compute_s for r in ok]
    devices = {r.usage.compute_device for r in ok}
    latencies = sorted(r.latency_s for r in ok if r.latency_s is not None)
    prompt = [r.usage.prompt_tokens for r in ok]
    completion = [r.usage.completion_tokens for r in ok]
    return {
        "cost_per_request": (
            sum(c for c in costs if c is not None) / len(costs) if ok and all(c is not None for c in costs) else None
        ),
        "prompt_tokens": sum(p or 0 for p in prompt) / len(ok) if ok and None not in prompt else None,
        "completion_tokens": sum(c or 0 for c in completion) / len(ok) if ok and None not in completion else None,
        "compute_s": sum(c or 0.0 for c in compute) / len(ok) if ok and None not in compute else None,
        "compute_device": devices.pop() if len(devices) == 1 else None,
        "latency_mean_s": sum(latencies) / len(latencies) if latencies else None,
        "latency_p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None,
    }


@dataclass
class Scoring:
    """The target metric (with its threshold and confidence), the report's other metrics and its grouping."""

    metric: Metric
    report_metrics: list[Metric] = field(default_factory=list)
    confidence: float = 0.95
    threshold: float = 0.0
    group_by: str | None = None

    def score(self, results: Sequence[CaseResult]) -> list[float]:
        """The target metric per test case (see [`metric_values`][tunewise.ladder._measure.metric_values])."""
        return metric_values(results, self.metric.name)

    def breakdown(
        self, results: Sequence[CaseResult]
    ) -> tuple[dict[str, MetricSummary], str | None, dict[str, GroupResult]]:
        """The report's other metrics on all ``results``, and every metric per group of ``report.group_by``."""
        confidence = self.confidence
        others = {m.name: s for m in self.report_metrics if (s := summarize(results, m.name, confidence)) is not None}
        groups: dict[str, GroupResult] = {}
        if self.group_by is not None:
            names = [self.metric.name, *(m.name for m in self.report_metrics)]
            for group, members in split_by_group(results, self.group_by).items():
                scored = {n: s for n in names if (s := summarize(members, n, confidence)) is not None}
                groups[group] = GroupResult(n=len(members), metrics=scored)
        return others, self.group_by, groups

    def notes(self, results: Sequence[CaseResult], scored: int) -> list[str]:
        """What the mean leaves out: cases that failed with errors, cases the metric does not apply to."""
        errors = sum(r.status != "ok" for r in results)
        notes = []
        if errors:
            notes.append(f"{errors} of {len(results)} test cases failed with errors and count as 0")
        if scored < len(results):
            notes.append(
                f"{self.metric.name} does not apply to {len(results) - scored} of {len(results)} test cases "
                "(left out of its mean)"
            )
        return notes

    def measure(
        self,
        rung: RungKind,
        strategy: Strategy,
        model: str,
        results: Sequence[CaseResult],
        *,
        extra_dollars: float | None = 0.0,
        extra_tokens: int = 0,
        training_cost: float | None = None,
        system: str | None = None,
        notes: Sequence[str] = (),
    ) -> RungResult:
        """The rung's result from its test answers, plus what it spent beyond them (``extra_*``)."""
        scores = self.score(results)
        if not results:
            raise ConfigError(f"rung {rung}: no results on the test split")
        if not scores:
            raise ConfigError(f"rung {rung}: no test case has a {self.metric.name} score (the metric applies to none)")
        mean, low, high = mean_ci(scores, confidence=self.confidence)
        ok = [r for r in results if r.status == "ok"]
        dollars, tokens = spend_of(results)
        others, group_by, groups = self.breakdown(results)
        return RungResult(
            rung=rung,
            strategy=strategy.name,
            run_id=results[0].run_id,
            model=model,
            status="passed" if low >= self.threshold else "below_target",
            n=len(scores),
            errors=len(results) - len(ok),
            mean=mean,
            ci_low=low,
            ci_high=high,
            confidence=self.confidence,
            **usage_means(ok),
            spent=sum_known(dollars, extra_dollars),
            tokens=tokens + extra_tokens,
            training_cost=training_cost,
            system_prompt=system,
            notes=[*notes, *self.notes(results, len(scores))],
            metrics=others,
            group_by=group_by,
            groups=groups,
            causes=error_causes(results),
        )

"""Paired comparison of two strategies (or runs) on the same cases, with a plain-language verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar, cast

import anyio
import numpy as np
from pydantic import BaseModel, ConfigDict

from tunewise._errors import ConfigError
from tunewise._types import Usage
from tunewise.evaluation._cases import Case
from tunewise.evaluation._runstore import CaseResult, RunStore, iter_pairs
from tunewise.evaluation._stats import (
    Correction,
    adjust_p_values,
    bootstrap_mean_ci,
    cohens_dz,
    mcnemar_exact,
    paired_permutation_test,
    sample_size_mcnemar,
    sample_size_paired,
    sign_test,
)

if TYPE_CHECKING:
    from tunewise.evaluation._metrics import PairwiseJudge


def format_p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.2g}" if p < 0.01 else f"p={p:.2f}"


def format_level(confidence: float) -> str:
    """``0.95`` -> ``"95%"``, ``0.995`` -> ``"99.5%"`` (never a rounded-up "100%")."""
    percent = confidence * 100
    return f"{percent:.0f}%" if abs(percent - round(percent)) < 1e-9 else f"{percent:.1f}%"


def _adjusted(correction: Correction | None, family: int, raw: float) -> str:
    """``"; Holm-adjusted for 4 comparisons, p=0.012 before"`` after a test's name; empty if uncorrected."""
    return (
        f"; {correction.capitalize()}-adjusted for {family} comparisons, {format_p(raw)} before" if correction else ""
    )


class _Corrected(BaseModel):
    """A test's p-value, and what a family-wise correction made of it (see `apply_correction()`)."""

    model_config = ConfigDict(frozen=True)

    p_value: float
    correction: Correction | None = None
    """The family-wise correction applied to ``p_value``, if any."""
    family: int = 1
    """How many comparisons the correction was over."""
    p_adjusted: float | None = None
    """``p_value`` after ``correction``; ``None`` when no correction was applied."""

    @property
    def p(self) -> float:
        """The p-value that decides: adjusted if a correction was applied, else the test's own."""
        return self.p_value if self.p_adjusted is None else self.p_adjusted


class Comparison(_Corrected):
    """B against A on one metric, paired by case. ``difference`` is mean(B) - mean(A)."""

    metric: str
    binary: bool
    a: str
    b: str
    n: int
    unpaired_a: int = 0
    unpaired_b: int = 0
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    confidence: float
    test: str
    """``McNemar exact`` (pass/fail) or ``paired permutation`` (graded): both test the mean difference."""
    alpha: float
    effect_size: float
    """Cohen's d_z: mean difference over the spread of differences."""
    wins: int
    """Cases where B scored higher than A."""
    losses: int
    ties: int
    target: float
    """The difference the sample-size figure is for."""
    needed: int | None
    """Cases needed to detect ``target`` with 80% power (``None``: no case differed, no estimate)."""

    @property
    def interval_excludes_zero(self) -> bool:
        """The interval lies on one side of 0, the same side as the mean difference."""
        return (self.ci_low > 0 and self.difference > 0) or (self.ci_high < 0 and self.difference < 0)

    group_by: str | None = None
    """The case metadata key the cases were split by (``kind``), when this compares one group."""
    group: str | None = None
    """The group compared (``kb``); ``None`` for all cases."""

    @property
    def significant(self) -> bool:
        """The test (after any correction) rejects "no difference" *and* the interval excludes 0."""
        return self.p < self.alpha and self.interval_excludes_zero

    @property
    def subject(self) -> str:
        """What was compared: the metric, and the group if any (``must_contain for kind=kb``)."""
        return self.metric if self.group is None else f"{self.metric} for {self.group_by}={self.group}"

    @property
    def small(self) -> bool:
        """A group with fewer than ``SMALL_GROUP`` paired cases: its interval is rough."""
        from tunewise.evaluation._groups import SMALL_GROUP

        return self.group is not None and self.n < SMALL_GROUP

    @property
    def verdict(self) -> str:
        """One sentence a decision can be made on; it never names a winner that the interval does not back."""
        level = format_level(self.confidence)
        shown = [v for v in (self.difference, self.ci_low, self.ci_high) if v != 0]
        # enough decimals that no non-zero figure reads as 0.00 (a bound "0.00" looks like it touches 0)
        digits = next((d for d in (2, 3, 4) if all(round(v, d) != 0 for v in shown)), 4)
        low, high = f"{self.ci_low:.{digits}f}", f"{self.ci_high:.{digits}f}"
        shift = f"{self.b} - {self.a} = {self.difference:+.{digits}f}"
        adjusted = _adjusted(self.correction, self.family, self.p_value)
        if self.significant:
            better, worse = (self.b, self.a) if self.difference > 0 else (self.a, self.b)
            caveat = f"; only {self.n} cases in this group, so the interval is rough" if self.small else ""
            if self.difference < 0:  # the interval of better - worse
                low, high = f"{-self.ci_high:.{digits}f}", f"{-self.ci_low:.{digits}f}"
            return (
                f"{better} better than {worse} by {abs(self.difference):.{digits}f} on {self.subject} "
                f"({level} CI {low}..{high}), {format_p(self.p)} ({self.test}, {self.n} paired cases{adjusted})"
                f"{caveat}"
            )
        removed_by_correction = self.correction is not None and self.p_value < self.alpha
        if (self.p < self.alpha) != self.interval_excludes_zero and not removed_by_correction:
            if self.p < self.alpha:
                why = f"{format_p(self.p)} is below {self.alpha:g} but the {level} CI {low}..{high} includes 0"
            else:
                why = f"the {level} CI {low}..{high} excludes 0 but {format_p(self.p)} is not below {self.alpha:g}"
            return (
                f"inconclusive on {self.subject} with {self.n} cases: the test and the interval disagree "
                f"({shift}; {why}; {self.test}{adjusted}); {self.b} scored higher on {self.wins} cases and lower on "
                f"{self.losses}: read the cases that differ before deciding"
            )
        if self.needed is None:
            power = "no case scored differently, so no power estimate"
        elif self.needed <= self.n:
            power = f"{self.n} cases had at least 80% power for a difference of {self.target:g}"
        else:
            power = f"{self.n} cases had less than 80% power for {self.target:g} (about {self.needed} needed)"
        if removed_by_correction:
            return (
                f"no difference on {self.subject} with {self.n} cases survives the "
                f"{(self.correction or '').capitalize()} correction for {self.family} comparisons "
                f"({shift}, {format_p(self.p)}, {self.test}{adjusted}); "
                f"the {level} CI {low}..{high} is per comparison, not corrected; {power}"
            )
        return (
            f"no difference detected on {self.subject} with {self.n} cases "
            f"({shift}, {format_p(self.p)}, {self.test}{adjusted}); the {level} CI {low}..{high} bounds it; {power}"
        )


def compare_scores(
    a: Sequence[float],
    b: Sequence[float],
    *,
    metric: str = "score",
    binary: bool = False,
    a_name: str = "A",
    b_name: str = "B",
    confidence: float = 0.95,
    target: float = 0.05,
    alpha: float | None = None,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare paired scores: McNemar's exact test if ``binary``, else the paired permutation test.

    Both test the mean difference that the bootstrap interval estimates, so test and interval
    answer the same question (the verdict still checks that they agree). ``n_resamples`` is
    for the interval; the permutation test is exact up to 20 differing cases and uses 20,000
    seeded sign flips above.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("need the same, non-zero number of scores for A and B")
    alpha = 1 - confidence if alpha is None else alpha
    d = y - x
    low, high = bootstrap_mean_ci(d, confidence=confidence, n_resamples=n_resamples, seed=seed)
    needed: int | None
    if binary:
        test = mcnemar_exact(x, y)
        p_value, name = test.p_value, "McNemar exact"
        discordant = (test.a_only + test.b_only) / x.size
        # with too few observed disagreements to estimate, assume twice the target share disagree
        share = min(1.0, max(discordant, 2 * target))
        needed = sample_size_mcnemar(share, target, alpha=alpha) if 0 < target < share else None
    else:
        p_value, name = paired_permutation_test(d, seed=seed), "paired permutation"
        sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
        needed = sample_size_paired(sd, target, alpha=alpha) if sd > 0 and target > 0 else None
    if binary and needed is not None and not np.any(d != 0):
        needed = None
    return Comparison(
        metric=metric,
        binary=binary,
        a=a_name,
        b=b_name,
        n=int(x.size),
        mean_a=float(x.mean()),
        mean_b=float(y.mean()),
        difference=float(d.mean()),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        test=name,
        p_value=p_value,
        alpha=alpha,
        effect_size=cohens_dz(d),
        wins=int(np.sum(d > 0)),
        losses=int(np.sum(d < 0)),
        ties=int(np.sum(d == 0)),
        target=target,
        needed=needed,
    )


Tested = TypeVar("Tested", bound="Comparison | PairwiseSummary")


def apply_correction(tests: Sequence[Tested], correction: Correction | None) -> list[Tested]:
    """Correct comparisons made at once for their number (Holm or Bonferroni); ``None`` leaves them as they are.

    Each gets ``p_adjusted``, ``correction`` and ``family`` (how many were corrected together);
    its verdict and ``significant`` then go by the adjusted p-value. Intervals are not widened.
    A single comparison has nothing to be corrected for and is returned as it is.
    """
    if correction is None or len(tests) < 2:
        return list(tests)
    adjusted = adjust_p_values([t.p_value for t in tests], correction)
    return [
        cast(Tested, t.model_copy(update={"p_adjusted": p, "correction": correction, "family": len(tests)}))
        for t, p in zip(tests, adjusted, strict=True)
    ]


def resolve(store: RunStore, selector: str) -> tuple[str, str]:
    """``RUN``, ``RUN/STRATEGY`` or a strategy name of the newest run -> (run_id, strategy)."""
    run_id, slash, strategy = selector.partition("/")
    runs = {r.run_id: r for r in store.runs()}
    if run_id in runs:
        strategies = runs[run_id].strategies
        if slash:
            if strategy not in strategies:
                raise ConfigError(f"run {run_id!r} has no strategy {strategy!r} (it has: {', '.join(strategies)})")
            return run_id, strategy
        if len(strategies) != 1:
            raise ConfigError(
                f"run {run_id!r} has {len(strategies)} strategies; name one as {run_id}/STRATEGY "
                f"({', '.join(strategies)})"
            )
        return run_id, strategies[0]
    for run in runs.values():  # newest first
        if selector in run.strategies:
            return run.run_id, selector
    raise ConfigError(f"no run or strategy {selector!r} in {store.path}")


def metric_kinds(store: RunStore, run_id: str) -> dict[str, bool]:
    """Metric name -> binary, as recorded in the run's config."""
    return {m["name"]: bool(m["binary"]) for m in store.run(run_id).config.get("metrics", [])}


def compare_runs(
    store: RunStore,
    a: str,
    b: str,
    *,
    metrics: Sequence[str] | None = None,
    confidence: float = 0.95,
    target: float = 0.05,
    seed: int = 0,
    correction: Correction | None = None,
    group_by: str | None = None,
) -> list[Comparison]:
    """Compare two selections (see `resolve()`) on every shared metric, paired by case id.

    ``correction`` (``"holm"`` or ``"bonferroni"``) corrects the metrics' p-values for being
    tested together; by default none is applied (one pair, usually one metric that matters).
    With ``group_by`` (a case metadata key such as ``"kind"``) the comparisons over all cases
    come first, then the same comparisons within each group (``Comparison.group``), groups in
    the order the cases first show them. A group where no pair has scores on a metric (the
    metric does not apply there) has no comparison on it. Group comparisons are exploratory:
    ``correction`` covers the comparisons over all cases only.
    """
    run_a, strategy_a = resolve(store, a)
    run_b, strategy_b = resolve(store, b)
    label_a = strategy_a if run_a == run_b else f"{run_a}/{strategy_a}"
    label_b = strategy_b if run_a == run_b else f"{run_b}/{strategy_b}"
    if (run_a, strategy_a) == (run_b, strategy_b):
        raise ConfigError("compare needs two different selections")
    pairs, unpaired_a, unpaired_b = iter_pairs(store.results(run_a, strategy_a), store.results(run_b, strategy_b))
    kinds = {**metric_kinds(store, run_b), **metric_kinds(store, run_a)}
    shared = [m for m in kinds if m in metric_kinds(store, run_a) and m in metric_kinds(store, run_b)]
    chosen = list(metrics) if metrics else shared
    out = []
    for metric in chosen:
        if metric not in shared:
            raise ConfigError(f"metric {metric!r} is not in both runs (shared: {', '.join(shared) or 'none'})")
        comparison = _compare_pairs(
            pairs,
            metric,
            kinds[metric],
            a_name=label_a,
            b_name=label_b,
            confidence=confidence,
            target=target,
            seed=seed,
        )
        if comparison is None:
            raise ConfigError(f"no case has {metric!r} scores for both {label_a} and {label_b}")
        out.append(
            comparison.model_copy(
                update={
                    "unpaired_a": unpaired_a + len(pairs) - comparison.n,
                    "unpaired_b": unpaired_b + len(pairs) - comparison.n,
                }
            )
        )
    out = apply_correction(out, correction)
    if group_by is not None:
        from tunewise.evaluation._groups import NO_GROUP, group_of

        if pairs and all(group_of(a.case, group_by) == NO_GROUP for a, _ in pairs):
            raise ConfigError(f"group_by {group_by!r}: no paired case has metadata.{group_by}")
        out.extend(
            compare_groups(
                pairs,
                {m: kinds[m] for m in chosen},
                group_by,
                a_name=label_a,
                b_name=label_b,
                confidence=confidence,
                target=target,
                seed=seed,
            )
        )
    return out


def compare_groups(
    pairs: Sequence[tuple[CaseResult, CaseResult]],
    metrics: dict[str, bool],
    group_by: str,
    *,
    a_name: str,
    b_name: str,
    confidence: float = 0.95,
    target: float = 0.05,
    seed: int = 0,
) -> list[Comparison]:
    """Paired comparisons within each group of ``group_by`` (metric name -> binary), group by group."""
    from tunewise.evaluation._groups import group_names, group_of

    out = []
    for group in group_names((a.case for a, _ in pairs), group_by):
        inside = [(a, b) for a, b in pairs if group_of(a.case, group_by) == group]
        for metric, binary in metrics.items():
            comparison = _compare_pairs(
                inside, metric, binary, a_name=a_name, b_name=b_name, confidence=confidence, target=target, seed=seed
            )
            if comparison is not None:  # None: the metric applies to no pair of this group
                out.append(comparison.model_copy(update={"group_by": group_by, "group": group}))
    return out


def _compare_pairs(
    pairs: Sequence[tuple[CaseResult, CaseResult]],
    metric: str,
    binary: bool,
    *,
    a_name: str,
    b_name: str,
    confidence: float,
    target: float,
    seed: int,
) -> Comparison | None:
    """`compare_scores()` over the pairs where both sides have a ``metric`` score; ``None`` if none do."""
    scored = [(a.scores[metric], b.scores[metric]) for a, b in pairs if metric in a.scores and metric in b.scores]
    if not scored:
        return None
    return compare_scores(
        [x for x, _ in scored],
        [y for _, y in scored],
        metric=metric,
        binary=binary,
        a_name=a_name,
        b_name=b_name,
        confidence=confidence,
        target=target,
        seed=seed,
    )


class PairwiseSummary(_Corrected):
    """Pairwise LLM judging of B against A over paired cases (``p_value``: the sign test's)."""

    a: str
    b: str
    n: int
    b_wins: int
    a_wins: int
    ties: int
    inconsistent: int
    """Pairs where the judge changed its mind when the order was swapped (counted as ties)."""
    invalid: int = 0
    """Pairs the judge gave no readable verdict for (counted as ties)."""
    usage: Usage
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.a_wins != self.b_wins and self.p < self.alpha

    @property
    def verdict(self) -> str:
        decided = self.a_wins + self.b_wins
        p_text = f"{format_p(self.p)} (sign test{_adjusted(self.correction, self.family, self.p_value)})"
        if self.significant:
            better = self.b if self.b_wins > self.a_wins else self.a
            rate = max(self.a_wins, self.b_wins) / decided
            return (
                f"judge prefers {better} in {rate:.0%} of {decided} decided pairs "
                f"({self.ties} ties, {self.inconsistent} inconsistent, {self.invalid} unreadable), {p_text}"
            )
        return (
            f"judge shows no clear preference over {self.n} pairs ({self.b} {self.b_wins}, {self.a} {self.a_wins}, "
            f"{self.ties} ties, {self.inconsistent} inconsistent, {self.invalid} unreadable), {p_text}"
        )


async def judge_pairs(
    judge: PairwiseJudge,
    a: Sequence[CaseResult],
    b: Sequence[CaseResult],
    *,
    a_name: str = "A",
    b_name: str = "B",
    concurrency: int = 8,
    alpha: float = 0.05,
) -> PairwiseSummary:
    """Pairwise-judge every paired case (A first, then swapped); a sign test on the decided pairs."""
    pairs, _, _ = iter_pairs(a, b)
    if not pairs:
        raise ConfigError("no paired cases to judge")
    preferences: list[int] = []
    inconsistent = invalid = 0
    usage = Usage(prompt_tokens=0, completion_tokens=0, cached_prompt_tokens=0)
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(ra: CaseResult, rb: CaseResult) -> None:
        nonlocal inconsistent, invalid, usage
        async with limiter:
            try:
                verdict = await judge.compare(Case.model_validate(ra.case), ra.response or "", rb.response or "")
            except ValueError:  # no "Winner:" line: one unreadable verdict must not sink the comparison
                invalid += 1
                preferences.append(0)
                return
        preferences.append(verdict.preference)
        inconsistent += not verdict.consistent
        usage = usage + verdict.usage

    async with anyio.create_task_group() as group:
        for ra, rb in pairs:
            group.start_soon(one, ra, rb)
    b_wins, a_wins = preferences.count(1), preferences.count(-1)
    return PairwiseSummary(
        a=a_name,
        b=b_name,
        n=len(pairs),
        b_wins=b_wins,
        a_wins=a_wins,
        ties=len(pairs) - a_wins - b_wins,
        inconsistent=inconsistent,
        invalid=invalid,
        p_value=sign_test(b_wins, a_wins),
        usage=usage,
        alpha=alpha,
    )

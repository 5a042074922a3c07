"""Reports of a run: Markdown, and one self-contained HTML page (jinja2 + matplotlib PNGs inlined).

The HTML page references nothing outside itself: charts are base64 PNGs, styles are
inline, so it can be mailed or attached to a ticket as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import jinja2

from tunewise.evaluation._charts import (
    DPI,
    LABEL_CHARS,
    WIDTH_IN,
    Chart,
    CostPoint,
    Interval,
    by_group_chart,
    chart_style,
    colour,
    ellipsize,
    png,
    quality_cost_chart,
)
from tunewise.evaluation._compare import (
    Comparison,
    apply_correction,
    compare_groups,
    compare_scores,
    format_level,
    metric_kinds,
)
from tunewise.evaluation._failures import ErrorCause, error_causes
from tunewise.evaluation._groups import NO_GROUP, SMALL_GROUP, group_names, split_by_group
from tunewise.evaluation._runstore import CaseResult, RunInfo, RunStore, iter_pairs
from tunewise.evaluation._stats import Correction, mean_ci


@dataclass(frozen=True)
class StrategySummary:
    """One strategy's figures in a run."""

    name: str
    ok: int
    errors: int
    scores: dict[str, tuple[float, float, float]]
    """metric -> (mean, CI low, CI high)."""
    cost: float | None
    """Total cost of the answered cases; ``None`` if any was unknown."""
    cost_known: int
    latency_mean: float | None
    latency_p50: float | None
    latency_p95: float | None
    handoffs: int
    cached: int
    latencies: list[float] = field(default_factory=list)
    scored: dict[str, int] = field(default_factory=dict)
    """metric -> answers with a score on it (fewer than ``ok`` where the metric does not apply or failed)."""

    @property
    def cost_per_case(self) -> float | None:
        return None if self.cost is None or not self.ok else self.cost / self.ok


@dataclass(frozen=True)
class CaseDiff:
    """A case where a strategy and the baseline scored differently on the primary metric."""

    case_id: str
    question: str
    reference: str | None
    baseline_text: str
    other_text: str
    baseline_score: float
    other_score: float

    @property
    def win(self) -> bool:
        return self.other_score > self.baseline_score


@dataclass(frozen=True)
class GroupSummary:
    """One group of cases (``kind = "kb"``): each strategy's figures on it and the comparisons within it."""

    name: str
    cases: int
    """Cases of the run in this group."""
    strategies: list[StrategySummary]
    comparisons: list[Comparison]

    @property
    def small(self) -> bool:
        """Fewer than ``SMALL_GROUP`` cases: intervals and verdicts are rough, read them as hints."""
        return self.cases < SMALL_GROUP


@dataclass(frozen=True)
class Report:
    """Everything a report shows; `markdown()` and `html()` render it."""

    run: RunInfo
    metrics: dict[str, bool]
    primary: str | None
    baseline: str
    strategies: list[StrategySummary]
    comparisons: list[Comparison]
    diffs: dict[str, list[CaseDiff]]
    errors: list[tuple[str, str, str]]
    max_diffs: int
    confidence: float = 0.95
    correction: Correction | None = None
    """The correction applied to the comparisons together (``None``: each read on its own)."""

    @property
    def level(self) -> str:
        return format_level(self.confidence)

    @property
    def correction_note(self) -> str:
        """Which multiple-comparison correction the verdicts use, in a sentence."""
        k = len(self.comparisons)
        if self.correction is not None:
            return (
                f"Multiple comparisons: {self.correction.capitalize()} correction over the {k} comparisons below "
                f"(every strategy against {self.baseline} on every metric); verdicts go by the adjusted p-values, "
                f"intervals are per comparison at {self.level}."
            )
        if k > 1:
            return (
                f"Multiple comparisons: no correction over the {k} comparisons below; each verdict is read on "
                "its own, so with several the chance of a fluke among them is higher."
            )
        return "Multiple comparisons: none (a single comparison)." if k else ""

    group_by: str | None = None
    """The case metadata key the groups are split by (``kind``)."""
    groups: list[GroupSummary] = field(default_factory=list)
    causes: list[ErrorCause] = field(default_factory=list)
    """The failed cases grouped by cause, most frequent first, each with an example case."""

    def markdown(self) -> str:
        return _render("report.md.j2", self, charts={})

    def html(self) -> str:
        return _render("report.html.j2", self, charts=_charts(self))

    def write(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``<run>.md`` and ``<run>.html`` into ``folder``; returns both paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        md, html = out / f"{self.run.run_id}.md", out / f"{self.run.run_id}.html"
        md.write_text(self.markdown(), encoding="utf-8")
        html.write_text(self.html(), encoding="utf-8")
        return md, html


def _summary(
    name: str, results: Sequence[CaseResult], metrics: Sequence[str], seed: int, confidence: float
) -> StrategySummary:
    ok = [r for r in results if r.status == "ok"]
    scores = {}
    scored = {}
    for metric in metrics:
        values = [r.scores[metric] for r in ok if metric in r.scores]
        scored[metric] = len(values)
        if values:
            scores[metric] = mean_ci(values, confidence=confidence, seed=seed)
    costs = [r.cost for r in ok]
    known = [c for c in costs if c is not None]
    latencies = [r.latency_s for r in ok if r.latency_s is not None]
    return StrategySummary(
        name=name,
        ok=len(ok),
        errors=len(results) - len(ok),
        scores=scores,
        cost=sum(known) if ok and len(known) == len(costs) else None,
        cost_known=len(known),
        latency_mean=float(np.mean(latencies)) if latencies else None,
        latency_p50=float(np.percentile(latencies, 50)) if latencies else None,
        latency_p95=float(np.percentile(latencies, 95)) if latencies else None,
        handoffs=sum(r.handoff for r in ok),
        cached=sum(r.cached for r in ok),
        latencies=latencies,
        scored=scored,
    )


def _compare_pairs(
    pairs: Sequence[tuple[CaseResult, CaseResult]],
    metrics: dict[str, bool],
    names: tuple[str, str],
    confidence: float,
    target: float,
    seed: int,
) -> list[Comparison]:
    """The baseline (``names[0]``) against another strategy on every metric both scored."""
    found = []
    for metric, binary in metrics.items():
        scored = [(a, b) for a, b in pairs if metric in a.scores and metric in b.scores]
        if scored:
            found.append(
                compare_scores(
                    [a.scores[metric] for a, _ in scored],
                    [b.scores[metric] for _, b in scored],
                    metric=metric,
                    binary=binary,
                    a_name=names[0],
                    b_name=names[1],
                    confidence=confidence,
                    target=target,
                    seed=seed,
                )
            )
    return found


def _case_diffs(pairs: Sequence[tuple[CaseResult, CaseResult]], primary: str) -> list[CaseDiff]:
    """The cases where the two strategies scored differently on the primary metric."""
    return [
        CaseDiff(
            case_id=a.case_id,
            question=_question(a.case),
            reference=a.case.get("reference"),
            baseline_text=a.response or "",
            other_text=b.response or "",
            baseline_score=a.scores[primary],
            other_score=b.scores[primary],
        )
        for a, b in pairs
        if primary in a.scores and primary in b.scores and a.scores[primary] != b.scores[primary]
    ]


def build_report(
    store: RunStore,
    run_id: str,
    *,
    baseline: str | None = None,
    primary: str | None = None,
    target: float = 0.05,
    max_diffs: int = 50,
    seed: int = 0,
    confidence: float = 0.95,
    correction: Correction | Literal["auto"] | None = "auto",
    group_by: str | None = None,
) -> Report:
    """Gather a run's figures: per-strategy scores with CIs, cost, latency, comparisons to the baseline.

    ``baseline`` defaults to the run's first strategy and ``primary`` to its first metric.
    ``confidence`` sets every interval and the tests' alpha (``1 - confidence``). ``correction``
    corrects all the report's comparisons (every other strategy against the baseline on every
    metric) for being made together: ``"auto"`` is Holm when the run has more than two
    strategies, none for a single pair; ``"holm"``, ``"bonferroni"`` or ``None`` choose.
    ``group_by`` (a case metadata key such as ``"kind"``; default: the one the run was
    evaluated with, if any) adds the same figures and comparisons for each group of cases.
    """
    from tunewise._errors import ConfigError

    run = store.run(run_id)
    metrics = metric_kinds(store, run_id)
    primary = primary or next(iter(metrics), None)
    if primary is not None and primary not in metrics:
        raise ConfigError(f"run {run_id!r} has no metric {primary!r} (it has: {', '.join(metrics)})")
    baseline = baseline or run.strategies[0]
    if baseline not in run.strategies:
        raise ConfigError(f"run {run_id!r} has no strategy {baseline!r} (it has: {', '.join(run.strategies)})")
    by_strategy = {name: store.results(run_id, name) for name in run.strategies}
    summaries = [_summary(name, by_strategy[name], list(metrics), seed, confidence) for name in run.strategies]
    comparisons: list[Comparison] = []
    diffs: dict[str, list[CaseDiff]] = {}
    for name in run.strategies:
        if name == baseline:
            continue
        pairs, _, _ = iter_pairs(by_strategy[baseline], by_strategy[name])
        comparisons += _compare_pairs(pairs, metrics, (baseline, name), confidence, target, seed)
        if primary is not None:
            diffs[name] = _case_diffs(pairs, primary)
    errors = [(r.strategy, r.case_id, r.error or "") for rs in by_strategy.values() for r in rs if r.status == "error"]
    if correction == "auto":
        correction = "holm" if len(run.strategies) > 2 else None
    if len(comparisons) < 2:
        correction = None  # one comparison: nothing to correct for
    comparisons = apply_correction(comparisons, correction)
    recorded = run.config.get("group_by")
    group_by = group_by or (recorded if isinstance(recorded, str) and recorded else None)
    groups = _groups(by_strategy, baseline, metrics, group_by, target, seed, confidence) if group_by else []
    return Report(
        run,
        metrics,
        primary,
        baseline,
        summaries,
        comparisons,
        diffs,
        errors,
        max_diffs,
        confidence=confidence,
        correction=correction,
        group_by=group_by,
        groups=groups,
        causes=error_causes(r for results in by_strategy.values() for r in results),
    )


def _groups(
    by_strategy: dict[str, list[CaseResult]],
    baseline: str,
    metrics: dict[str, bool],
    group_by: str,
    target: float,
    seed: int,
    confidence: float,
) -> list[GroupSummary]:
    """Each group's per-strategy figures and its comparisons with the baseline."""
    from tunewise._errors import ConfigError

    everything = [r for results in by_strategy.values() for r in results]
    names = group_names((r.case for r in everything), group_by)
    if names and all(name == NO_GROUP for name in names):
        keys = sorted({k for r in everything for k in (r.case.get("metadata") or {})})
        raise ConfigError(
            f"group_by {group_by!r}: no case has metadata.{group_by} (keys found: {', '.join(keys) or 'none'})"
        )
    split = {name: split_by_group(results, group_by) for name, results in by_strategy.items()}
    out = []
    for group in names:
        members = {name: split[name].get(group, []) for name in by_strategy}
        comparisons: list[Comparison] = []
        for name, results in members.items():
            if name != baseline:
                pairs, _, _ = iter_pairs(members[baseline], results)
                comparisons += compare_groups(
                    pairs,
                    metrics,
                    group_by,
                    a_name=baseline,
                    b_name=name,
                    confidence=confidence,
                    target=target,
                    seed=seed,
                )
        out.append(
            GroupSummary(
                name=group,
                cases=len({r.case_id for results in members.values() for r in results}),
                strategies=[
                    _summary(name, results, list(metrics), seed, confidence) for name, results in members.items()
                ],
                comparisons=comparisons,
            )
        )
    return out


def _question(case: dict[str, Any]) -> str:
    for message in reversed(case.get("input", [])):
        if message.get("role") == "user" and message.get("content"):
            return str(message["content"])
    return ""


# --- rendering ---------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def template_env(package: str) -> jinja2.Environment:
    """The jinja2 environment for ``package``'s ``templates/``.

    HTML autoescaped, strict, with the number/money/seconds/table-cell filters that every tunewise
    report uses.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _fmt
    env.filters["money"] = _money
    env.filters["secs"] = lambda value: "n/a" if value is None else f"{value:.2f}s"
    env.filters["cell"] = _cell
    return env


def _render(template: str, report: Report, charts: dict[str, Chart]) -> str:
    return template_env("tunewise.evaluation").get_template(template).render(r=report, charts=charts)


def _cell(text: object, width: int = 160) -> str:
    """One Markdown table cell: one line, pipes and angle brackets escaped, cut to ``width``."""
    flat = " ".join(str(text).split())[:width]
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _charts(report: Report) -> dict[str, Chart]:
    """The page's charts (base64 PNGs with alt text): score per strategy, quality against cost, per group, latency."""
    charts = [_score_chart(report), _cost_chart(report), _group_chart(report), _latency_chart(report)]
    return {chart.key: chart for chart in charts if chart is not None}


def _score_chart(report: Report) -> Chart | None:
    """The primary metric per strategy: mean with its interval, one colour per strategy."""
    from matplotlib.figure import Figure

    primary = report.primary
    rows = [(s.name, s.scores[primary]) for s in report.strategies if primary is not None and primary in s.scores]
    if primary is None or not rows:
        return None
    with chart_style():
        fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.45 * len(rows)), layout="constrained", dpi=DPI)
        ax = fig.subplots()
        means = [m for _, (m, _, _) in rows]
        errors = [[max(m - lo, 0.0) for _, (m, lo, _) in rows], [max(hi - m, 0.0) for _, (m, _, hi) in rows]]
        ax.barh(
            [ellipsize(n, LABEL_CHARS) for n, _ in rows],
            means,
            xerr=errors,
            color=[colour(i) for i in range(len(rows))],
            capsize=4,
            alpha=0.9,
        )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{primary} (mean, {report.level} CI)")
        image = png(fig)
    alt = f"Bar chart of {primary} per strategy with {report.level} confidence intervals: " + "; ".join(
        f"{name} {mean:.2f} [{low:.2f}, {high:.2f}]" for name, (mean, low, high) in rows
    )
    return Chart(key="scores", title=f"{primary} per strategy", png=image, alt=alt + ".")


def _cost_chart(report: Report) -> Chart | None:
    """Quality against cost per case; strategies of unknown cost in their own strip (never at 0).

    No chart when no strategy has a known cost: the page says so instead.
    """
    primary = report.primary
    scored = [s for s in report.strategies if primary is not None and primary in s.scores]
    if primary is None or not any(s.cost_per_case is not None for s in scored):
        return None
    points = [CostPoint(s.name, s.cost_per_case, Interval(*s.scores[primary], s.scored.get(primary))) for s in scored]
    return quality_cost_chart(points, metric=primary, level=report.level, cost_label="cost per case ($)", key="cost")


def _group_chart(report: Report) -> Chart | None:
    """Every metric per group, one dot (with its interval) per strategy and group."""
    if not report.groups:
        return None
    names = [s.name for s in report.strategies]
    values = {
        metric: {
            g.name: {
                s.name: Interval(*s.scores[metric], s.scored.get(metric)) for s in g.strategies if metric in s.scores
            }
            for g in report.groups
        }
        for metric in report.metrics
    }
    metrics = [m for m in (report.primary, *report.metrics) if m is not None]
    return by_group_chart(
        metrics=list(dict.fromkeys(metrics)),
        columns=names,
        groups=[g.name for g in report.groups],
        values=values,
        group_by=report.group_by or "group",
        column_kind="strategy",
        level=report.level,
        connect=False,
        key="groups",
    )


def _latency_chart(report: Report) -> Chart | None:
    from matplotlib.figure import Figure

    with_latency = [s for s in report.strategies if s.latencies]
    if not with_latency:
        return None
    with chart_style():
        fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.45 * len(with_latency)), layout="constrained", dpi=DPI)
        ax = fig.subplots()
        ax.boxplot([s.latencies for s in with_latency], orientation="horizontal", showfliers=False)
        ax.set_yticks(range(1, len(with_latency) + 1), [ellipsize(s.name, LABEL_CHARS) for s in with_latency])
        ax.invert_yaxis()
        ax.set_xlabel("latency per case (s)")
        image = png(fig)
    alt = "Box plot of latency per case for each strategy: " + "; ".join(
        f"{s.name} median {_fmt(s.latency_p50, 2)} s, p95 {_fmt(s.latency_p95, 2)} s" for s in with_latency
    )
    return Chart(key="latency", title="Latency", png=image, alt=alt + ".")

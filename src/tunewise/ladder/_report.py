"""The ladder's report: Markdown, and one self-contained HTML page with charts and sample answers.

Built from the output folder alone (``config.json``, ``state.json`` and the run store
``runs.sqlite``), with the same machinery as evaluation reports: jinja2 templates (HTML
autoescaped: answers are untrusted text) and matplotlib PNGs inlined as base64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError
from tunewise._names import short_model_name
from tunewise.evaluation import SMALL_GROUP, RunStore
from tunewise.evaluation._charts import (
    Chart,
    CostPoint,
    Interval,
    SizePoint,
    by_group_chart,
    learning_curve_chart,
    quality_cost_chart,
)
from tunewise.evaluation._report import template_env
from tunewise.ladder._config import LadderConfig
from tunewise.ladder._paths import CONFIG_FILE, STATE_FILE, STORE_FILE
from tunewise.ladder._recommend import Recommendation, recommend
from tunewise.ladder._samples import Samples, choose, must_contain_metric, rule
from tunewise.ladder._state import LadderState, LearningCurve, RungResult

if TYPE_CHECKING:
    from tunewise.evaluation import CaseResult


@dataclass(frozen=True)
class LadderReport:
    """Everything the templates show."""

    config: LadderConfig
    state: LadderState
    recommendation: Recommendation
    rows: list[RungResult]
    charts: dict[str, Chart] = field(default_factory=dict)
    """``by_group`` (every rung per group, for the target and the report's metrics) and ``quality_cost``."""
    samples: Samples | None = None
    learning_curve: Chart | None = None
    """The fine-tune rung's learning curve (quality against training examples), when the ladder measured one."""

    @property
    def curve(self) -> LearningCurve | None:
        """The learning curve's runs, fit and projections (or why it was not measured)."""
        return self.state.learning_curve

    @property
    def other_metrics(self) -> list[str]:
        """The report's metrics beside the target, in config order."""
        return list(dict.fromkeys(name for row in self.rows for name in row.metrics))

    @property
    def group_by(self) -> str | None:
        return next((row.group_by for row in self.rows if row.group_by), None)

    @property
    def group_names(self) -> list[str]:
        """Groups of the test split, in the order it first shows them."""
        return list(dict.fromkeys(group for row in self.rows for group in row.groups))

    @property
    def group_metrics(self) -> list[str]:
        """Metrics with per-group scores: the target first."""
        return list(dict.fromkeys(m for row in self.rows for g in row.groups.values() for m in g.metrics))

    def group_size(self, group: str) -> int:
        return max((row.groups[group].n for row in self.rows if group in row.groups), default=0)

    def short_model(self, row: RungResult) -> str:
        """The rung's model as a table shows it (the full reference is in the rung details)."""
        return short_model_name(row.model)

    @property
    def by_cost(self) -> list[RungResult]:
        """The rungs by cost per 1k requests, cheapest first; those of unknown cost after them, in ladder order."""
        costs = self.recommendation.costs
        known = [r for r in self.rows if costs[r.rung].per_1k_requests is not None]
        unknown = [r for r in self.rows if costs[r.rung].per_1k_requests is None]
        return sorted(known, key=lambda r: costs[r.rung].per_1k_requests or 0.0) + unknown

    def markdown(self) -> str:
        return _render("ladder.md.j2", self)

    def html(self) -> str:
        return _render("ladder.html.j2", self)


def load_outcome(out: str | Path) -> tuple[LadderConfig, LadderState]:
    """The config and state a ladder left in its output folder."""
    folder = Path(out)
    config_file, state_file = folder / CONFIG_FILE, folder / STATE_FILE
    if not config_file.is_file() or not state_file.is_file():
        raise ConfigError(f"{folder}: no ladder output here (expected {CONFIG_FILE} and {STATE_FILE})")
    try:
        config = LadderConfig.model_validate_json(config_file.read_text(encoding="utf-8"))
        state = LadderState.model_validate_json(state_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"{folder}: unreadable ladder output ({' '.join(str(exc).split())[:200]})") from None
    return config, state


def build_ladder_report(out: str | Path) -> LadderReport:
    """The report of the ladder in ``out`` (finished or not)."""
    config, state = load_outcome(out)
    rows = [state.results[r] for r in config.rungs if r in state.results]
    recommendation = recommend(config, state)
    charts = {c.key: c for c in (_by_group_chart(rows, recommendation), _cost_chart(rows, recommendation)) if c}
    samples = _samples(Path(out), config, rows, recommendation.metric)
    curve = _curve_chart(state, recommendation)
    return LadderReport(config, state, recommendation, rows, charts=charts, samples=samples, learning_curve=curve)


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out``; returns their paths."""
    report = build_ladder_report(out)
    folder = Path(out)
    md, html = folder / "report.md", folder / "report.html"
    md.write_text(report.markdown(), encoding="utf-8")
    html.write_text(report.html(), encoding="utf-8")
    return md, html


def _by_group_chart(rows: list[RungResult], rec: Recommendation) -> Chart | None:
    """Every rung's scores per group (kind), one panel per metric: the target, then the report's metrics."""
    group_by = next((row.group_by for row in rows if row.group_by), None)
    if group_by is None:
        return None
    groups = list(dict.fromkeys(g for row in rows for g in row.groups))
    metrics = list(dict.fromkeys(m for row in rows for g in row.groups.values() for m in g.metrics))
    values = {
        m: {
            g: {
                row.rung: Interval(s.mean, s.ci_low, s.ci_high, s.n)
                for row in rows
                if g in row.groups and (s := row.groups[g].metrics.get(m)) is not None
            }
            for g in groups
        }
        for m in metrics
    }
    return by_group_chart(
        metrics=metrics,
        columns=[row.rung for row in rows],
        groups=groups,
        values=values,
        group_by=group_by,
        column_kind="rung",
        level=f"{rec.confidence:.0%}",
        target=rec.metric,
        threshold=rec.threshold,
        key="by_group",
    )


def _cost_chart(rows: list[RungResult], rec: Recommendation) -> Chart | None:
    """Quality (mean with CI) against cost per 1k requests; rungs of unknown cost in their own strip."""
    points = [
        CostPoint(
            label=row.rung + (" (chosen)" if row.rung == rec.chosen else ""),
            cost=rec.costs[row.rung].per_1k_requests,
            quality=Interval(row.mean, row.ci_low, row.ci_high, row.n),
            highlight=row.rung == rec.chosen,
        )
        for row in rows
    ]
    return quality_cost_chart(
        points,
        metric=rec.metric,
        level=f"{rec.confidence:.0%}",
        cost_label="cost per 1k requests ($)",
        threshold=rec.threshold,
    )


def _curve_chart(state: LadderState, rec: Recommendation) -> Chart | None:
    """The fine-tune rung's learning curve: measured runs, the fitted curve, the extrapolation to 4x shaded."""
    curve = state.learning_curve
    fit = curve.fit if curve is not None else None
    if fit is None:
        return None
    measured = [
        SizePoint(n, Interval(mean, low, high, fit.cases), f"{n}")
        for n, mean, low, high in zip(fit.sizes, fit.means, fit.lows, fit.highs, strict=True)
    ]
    projected = [SizePoint(p.n, Interval(p.mean, p.low, p.high), f"{p.n} ({p.multiple:g}x)") for p in fit.projections]
    far = max([fit.n_max, *(p.n for p in fit.projections)])
    start = fit.sizes[0]
    samples = [start * (far / start) ** (i / 60) for i in range(61)]
    line = [(n, y) for n in samples if (y := fit.predict(n)) is not None]
    verdict = "flat within noise: more data is unlikely to help" if fit.flat else "still rising with more data"
    return learning_curve_chart(
        measured,
        curve=line,
        projected=projected,
        metric=rec.metric,
        level=f"{fit.confidence:.0%}",
        threshold=rec.threshold,
        verdict=f"Learning curve of fine_tune: {verdict}",
    )


def _samples(out: Path, config: LadderConfig, rows: list[RungResult], metric: str) -> Samples | None:
    """Sample answers read back from the run store (every rung's stored answer to the chosen cases)."""
    if not rows:
        return None
    group_by = next((row.group_by for row in rows if row.group_by), None)
    metrics = [metric, *dict.fromkeys(m for row in rows for m in row.metrics)]
    text = rule(metric, group_by)
    store_file = out / STORE_FILE
    if not store_file.is_file():
        return Samples(rule=text, metrics=tuple(metrics), cases=(), note=f"no run store ({STORE_FILE}) in {out}")
    with RunStore(store_file, create=False) as store:
        results = {row.rung: _answers(store, row) for row in rows}
    phrases_by = must_contain_metric([config.target.metric, *config.report.metrics])
    cases = choose(results, metric=metric, metrics=metrics, group_by=group_by, phrases_by=phrases_by)
    return Samples(rule=text, metrics=tuple(metrics), cases=tuple(cases))


def _answers(store: RunStore, row: RungResult) -> list[CaseResult]:
    """A rung's stored test answers.

    A rung that reused another's answers (optimized_prompt keeping the starting instruction) names that
    run, whose one strategy has another name: every ladder run holds one strategy, so the run's results
    are the rung's.
    """
    return store.results(row.run_id, row.strategy) or store.results(row.run_id)


def _md_text(segments: Any) -> str:
    """Answer segments as one Markdown table cell: one line, HTML and Markdown markup escaped, found phrases bold."""
    out = []
    for segment in segments:
        text = re.sub(r"\s+", " ", segment.text.replace("\x00", ""))
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = re.sub(r"([\\`*_\[\]|])", r"\\\1", text)
        out.append(f"**{text.strip()}**" if segment.mark and text.strip() else text)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _render(template: str, report: LadderReport) -> str:
    env = template_env("tunewise.ladder")
    env.filters["monthly"] = lambda value: "unknown" if value is None else f"${value:,.2f}"
    env.filters["md_text"] = _md_text
    env.filters["score"] = lambda value: "n/a" if value is None else f"{value:.2f}"
    context: dict[str, Any] = {
        "r": report,
        "rec": report.recommendation,
        "config": report.config,
        "small_group": SMALL_GROUP,
    }
    return env.get_template(template).render(**context)

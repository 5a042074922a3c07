"""The ladder's report: Markdown, and one self-contained HTML page with a quality-vs-cost chart.

Built from the output folder alone (``config.json`` and ``state.json``), with the same
machinery as evaluation reports: jinja2 templates and matplotlib PNGs inlined as base64.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise._errors import ConfigError
from tunewise.ladder._config import LadderConfig
from tunewise.ladder._recommend import Recommendation, recommend
from tunewise.ladder._state import LadderState, RungResult


@dataclass(frozen=True)
class LadderReport:
    """Everything the templates show."""

    config: LadderConfig
    state: LadderState
    recommendation: Recommendation
    rows: list[RungResult]
    chart: str | None

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

    def markdown(self) -> str:
        return _render("ladder.md.j2", self)

    def html(self) -> str:
        return _render("ladder.html.j2", self)


def load_outcome(out: str | Path) -> tuple[LadderConfig, LadderState]:
    """The config and state a ladder left in its output folder."""
    from tunewise.ladder._ladder import CONFIG_FILE, STATE_FILE

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
    return LadderReport(config, state, recommendation, rows, _chart(config, rows, recommendation))


def write_report(out: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out``; returns their paths."""
    report = build_ladder_report(out)
    folder = Path(out)
    md, html = folder / "report.md", folder / "report.html"
    md.write_text(report.markdown(), encoding="utf-8")
    html.write_text(report.html(), encoding="utf-8")
    return md, html


def _chart(config: LadderConfig, rows: list[RungResult], rec: Recommendation) -> str | None:
    """Quality (mean with CI) against cost per 1k requests; rungs with unknown cost are placed at the left."""
    if not rows:
        return None
    from matplotlib.figure import Figure

    from tunewise.evaluation._report import _png

    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    priced = [r for r in rows if rec.costs[r.rung].per_1k_requests is not None]
    known = [rec.costs[r.rung].per_1k_requests or 0.0 for r in priced]
    unknown_x = 0.0 if not known else min(known) / 2 if min(known) > 0 else 0.0
    for r in rows:
        x = rec.costs[r.rung].per_1k_requests
        colour = "#2ca02c" if r.status == "passed" else "#4c78a8"
        marker = "o" if x is not None else "x"
        xs = x if x is not None else unknown_x
        ax.errorbar(
            xs,
            r.mean,
            yerr=[[max(r.mean - r.ci_low, 0.0)], [max(r.ci_high - r.mean, 0.0)]],
            fmt=marker,
            color=colour,
            capsize=4,
        )
        label = r.rung if x is not None else f"{r.rung} (cost unknown)"
        ax.annotate(label, (xs, r.mean), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.axhline(config.target.threshold, color="#d62728", linestyle="--", linewidth=1)
    ax.annotate(
        "target",
        (0, config.target.threshold),
        xycoords=("axes fraction", "data"),
        xytext=(4, 4),
        textcoords="offset points",
        color="#d62728",
        fontsize=8,
    )
    if len(known) >= 2 and min(known) > 0 and max(known) / min(known) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("cost per 1k requests ($)")
    ax.set_ylabel(f"{rec.metric} (mean, {rec.confidence:.0%} CI)")
    ax.set_ylim(0, 1.05 if all(r.ci_high <= 1 for r in rows) else None)
    return _png(fig)


def _render(template: str, report: LadderReport) -> str:
    from tunewise.evaluation._groups import SMALL_GROUP
    from tunewise.evaluation._report import template_env

    env = template_env("tunewise.ladder")
    env.filters["monthly"] = lambda value: "unknown" if value is None else f"${value:,.2f}"
    context: dict[str, Any] = {
        "r": report,
        "rec": report.recommendation,
        "config": report.config,
        "small_group": SMALL_GROUP,
    }
    return env.get_template(template).render(**context)

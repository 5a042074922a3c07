"""The reports' charts: PNGs (matplotlib, imported when a chart is drawn) with alt text and their layout.

Shared by evaluation and ladder reports. Every chart uses the Okabe-Ito palette (told apart by
readers with any common colour-vision deficiency) and a marker shape per series as well, fits the
reports' 1100-pixel column at 100% zoom, and writes no text smaller than 9 points. Each
`Chart` carries its ``layout``: the data it plotted and where, so tests (and anyone curious)
can check what a reader sees without looking at pixels.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#999999")
"""Okabe & Ito's colour-blind-safe palette (its yellow swapped for grey: yellow is unreadable on white)."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
"""A shape per series too, so no reading depends on colour alone (seven shapes and eight colours: the first
56 series each get a pair of their own)."""
TARGET_COLOUR = "#D55E00"
DPI = 110
WIDTH_IN = 8.8
"""968 pixels at `DPI` (about 990 with the margin): inside the reports' 1100-pixel column, at its natural size."""
FONT_PT = 10.0
SMALLEST_PT = 9.0
"""No text in a chart is smaller (tick labels, legends, notes)."""


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval (and how many cases it stands on, when known)."""

    mean: float
    low: float
    high: float
    n: int | None = None


@dataclass(frozen=True)
class Chart:
    """One chart as the HTML page shows it: a base64 PNG data URI, its alt text and what it plotted."""

    key: str
    title: str
    png: str
    alt: str
    layout: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CostPoint:
    """One series on a quality-against-cost chart; ``cost`` ``None`` means unknown (never drawn at 0)."""

    label: str
    cost: float | None
    quality: Interval
    highlight: bool = False


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


@contextmanager
def chart_style() -> Iterator[None]:
    """The reports' matplotlib settings: sizes in points, no text below `SMALLEST_PT`."""
    import matplotlib

    with matplotlib.rc_context(
        {
            "text.parse_math": False,  # names are text: a '$' in one is a dollar sign, not TeX (nor a crash)
            "font.size": FONT_PT,
            "axes.titlesize": FONT_PT + 1,
            "axes.labelsize": FONT_PT,
            "xtick.labelsize": SMALLEST_PT,
            "ytick.labelsize": SMALLEST_PT,
            "legend.fontsize": SMALLEST_PT,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        yield


def png(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def text_boxes(figure: Figure) -> list[dict[str, Any]]:
    """Every visible text of the figure with its box in pixels (x0, y0, x1, y1) and its size in points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(figure)
    # Draw once so that boxes and the legend take their final places.
    canvas.draw()  # type: ignore[no-untyped-call]
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    ticks = set()
    drawn = []
    for ax in figure.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks():
                ticks.add(id(tick.label1))
                ticks.add(id(tick.label2))
                if lo <= tick.get_loc() <= hi:  # matplotlib keeps labels of ticks outside the view: not drawn
                    drawn.append(tick.label1)
    texts = [t for t in figure.findobj(Text) if id(t) not in ticks] + drawn
    out = []
    for artist in texts:
        if not artist.get_visible() or not artist.get_text().strip():
            continue
        box = artist.get_window_extent(renderer)
        out.append(
            {
                "text": artist.get_text(),
                "box": (round(box.x0, 1), round(box.y0, 1), round(box.x1, 1), round(box.y1, 1)),
                "size_pt": float(artist.get_fontsize()),
            }
        )
    return out


def overlapping(boxes: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap (by more than a pixel)."""
    pairs = []
    for i, a in enumerate(boxes):
        ax0, ay0, ax1, ay1 = a["box"]
        for b in boxes[i + 1 :]:
            bx0, by0, bx1, by1 = b["box"]
            if min(ax1, bx1) - max(ax0, bx0) > 1 and min(ay1, by1) - max(ay0, by0) > 1:
                pairs.append((a["text"], b["text"]))
    return pairs


CHAR_IN = 0.08
"""A generous width of one character at `SMALLEST_PT`, in inches: what label fitting assumes."""
LABEL_CHARS = 48
"""A label longer than this (in a legend) keeps its ends around an ellipsis."""


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, its start and end kept around an ellipsis."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3 :]


def wrap_label(text: str, chars: int, lines: int = 3) -> str:
    """``text`` broken into lines of at most ``chars`` characters.

    It breaks after ``_``, ``-``, ``/`` or a space where it can (``optimized_`` / ``prompt``), mid-word
    where it must; more than ``lines`` lines end with an ellipsis.
    """
    import re

    chars = max(chars, 4)
    if len(text) <= chars:
        return text
    out: list[str] = []
    line = ""
    for token in re.findall(r"[^_\-/ ]*[_\-/ ]?", text):
        while len(token) > chars:  # a word too long for any line: cut it
            if line:
                out.append(line)
                line = ""
            out.append(token[:chars])
            token = token[chars:]
        if len(line) + len(token) > chars:
            out.append(line)
            line = ""
        line += token
    if line:
        out.append(line)
    out = [piece.strip() for piece in out if piece.strip()]
    if len(out) > lines:
        out = [*out[: lines - 1], ellipsize("".join(out[lines - 1 :]), chars)]
    return "\n".join(out)


def legend_columns(labels: Sequence[str], most: int, width_in: float = WIDTH_IN) -> int:
    """As many legend columns as fit the figure's width with the longest label (marker and gap included)."""
    longest = max((len(label) for label in labels), default=1)
    return max(1, min(most, len(labels), int(width_in // (CHAR_IN * longest + 0.7))))


ALT_CHARS = 1000
"""Alt text stays brief: past this, the numbers stop at an entry's end and the text says where the rest is."""


def _brief(head: str, entries: Sequence[str], rest: str) -> str:
    """``head`` and as many ``entries`` as fit in `ALT_CHARS`, then ``rest`` if some were left out."""
    text = head
    for i, entry in enumerate(entries):
        sep = "" if i == 0 else "; "
        if len(text) + len(sep) + len(entry) > ALT_CHARS:
            return f"{text}; and {len(entries) - i} more ({rest})."
        text += sep + entry
    return text + "."


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _whiskers(values: Sequence[Interval]) -> list[list[float]]:
    return [[max(v.mean - v.low, 0.0) for v in values], [max(v.high - v.mean, 0.0) for v in values]]


# --- per-group results -----------------------------------------------------------------------------


def by_group_chart(
    *,
    metrics: Sequence[str],
    columns: Sequence[str],
    groups: Sequence[str],
    values: Mapping[str, Mapping[str, Mapping[str, Interval]]],
    group_by: str,
    column_kind: str,
    level: str,
    target: str | None = None,
    threshold: float | None = None,
    connect: bool = True,
    key: str = "by_group",
) -> Chart | None:
    """One panel per metric, one line of dots per group: how each group moves from column to column at a glance.

    The columns (rungs in ladder order, or strategies) run along x; each group's dots carry their
    confidence intervals.

    ``values[metric][group][column]`` is the interval (absent: not measured or not applicable).
    ``connect`` draws the line between columns (the ladder's rungs are an order; strategies are not).
    """
    metrics = [m for m in metrics if any(values.get(m, {}).get(g) for g in groups)]
    if not metrics or not columns or not groups:
        return None
    from matplotlib.figure import Figure

    ncols = 2 if len(metrics) > 1 and len(columns) <= 4 else 1  # six rungs need the full width for their names
    nrows = math.ceil(len(metrics) / ncols)
    with chart_style():
        fig = Figure(figsize=(WIDTH_IN, 0.8 + nrows * 2.7), layout="constrained", dpi=DPI)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        points: list[dict[str, Any]] = []
        handles: dict[str, Any] = {}  # the legend: one entry per group, from the first panel it is in
        for index, metric in enumerate(metrics):
            ax: Axes = axes[index // ncols][index % ncols]
            panel = _group_lines(ax, metric, columns, groups, values.get(metric, {}), connect=connect)
            points += panel.points
            for group, line in panel.handles.items():
                handles.setdefault(group, line)
            if metric == target and threshold is not None:
                _target_line(ax, threshold)
            title = f"{metric} (the target)" if metric == target else metric
            _style_group_panel(ax, title, columns, ncols, level if index % ncols == 0 else None)
        for extra in range(len(metrics), nrows * ncols):
            axes[extra // ncols][extra % ncols].set_visible(False)
        _group_legend(fig, groups, handles, group_by)
        boxes = text_boxes(fig)
        image = png(fig)
    alt = _by_group_alt(metrics, columns, groups, values, group_by, column_kind, level, target, threshold)
    layout = {
        "metrics": list(metrics),
        "columns": list(columns),
        "groups": list(groups),
        "points": points,
        "threshold": threshold,
        "texts": boxes,
        "size_px": (round(fig.get_figwidth() * DPI), round(fig.get_figheight() * DPI)),
    }
    title = f"Per {group_by}: each {column_kind}'s scores"
    return Chart(key=key, title=title, png=image, alt=alt, layout=layout)


@dataclass
class _Panel:
    """What one per-group panel drew: a layout entry per point, and the line of each group (for the legend)."""

    points: list[dict[str, Any]] = field(default_factory=list)
    handles: dict[str, Any] = field(default_factory=dict)


def _group_lines(
    ax: Axes,
    metric: str,
    columns: Sequence[str],
    groups: Sequence[str],
    values: Mapping[str, Mapping[str, Interval]],
    *,
    connect: bool,
) -> _Panel:
    """One panel's dots: a line per group across the columns, groups set a little apart so none hides another."""
    panel = _Panel()
    spread = 0.5 / max(len(groups), 1)
    for g, group in enumerate(groups):
        found = values.get(group, {})
        xs, shown = [], []
        for c, column in enumerate(columns):
            if column in found:
                xs.append(c + (g - (len(groups) - 1) / 2) * spread)
                shown.append(found[column])
                panel.points.append(
                    {
                        "metric": metric,
                        "group": group,
                        "column": column,
                        "x": xs[-1],
                        "mean": found[column].mean,
                        "low": found[column].low,
                        "high": found[column].high,
                    }
                )
        if not xs:
            continue
        panel.handles[group] = ax.errorbar(
            xs,
            [v.mean for v in shown],
            yerr=_whiskers(shown),
            fmt=marker(g) + ("-" if connect else ""),
            color=colour(g),
            markersize=6,
            linewidth=1.2,
            elinewidth=1.2,
            capsize=3,
            label=ellipsize(group, LABEL_CHARS),
        )
    return panel


def _target_line(ax: Axes, threshold: float) -> None:
    """The target as a dashed line, named at the panel's right edge."""
    ax.axhline(threshold, color=TARGET_COLOUR, linestyle="--", linewidth=1)
    ax.annotate(
        f"target {threshold:g}",
        (1, threshold),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        color=TARGET_COLOUR,
        fontsize=SMALLEST_PT,
    )


def _style_group_panel(ax: Axes, title: str, columns: Sequence[str], ncols: int, level: str | None) -> None:
    """A panel's title, its column names wrapped to fit, the 0..1 scale; the y label on the first of a row."""
    ax.set_title(ellipsize(title, int(WIDTH_IN / ncols / (CHAR_IN * 1.2))))
    per_column = (WIDTH_IN / ncols - 0.8) / len(columns)
    ax.set_xticks(range(len(columns)), [wrap_label(c, int(per_column / CHAR_IN)) for c in columns])
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(-0.03, 1.05)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    if level is not None:
        ax.set_ylabel(f"mean, {level} CI")


def _group_legend(fig: Figure, groups: Sequence[str], handles: Mapping[str, Any], group_by: str) -> None:
    """One legend above the panels naming every group drawn, in as many columns as fit."""
    names = [ellipsize(g, LABEL_CHARS) for g in groups if g in handles]
    fig.legend(
        handles=[handles[g] for g in groups if g in handles],
        labels=names,
        loc="outside upper center",
        ncols=legend_columns(names, 6),
        title=ellipsize(group_by, LABEL_CHARS),
        frameon=False,
    )


def _by_group_alt(
    metrics: Sequence[str],
    columns: Sequence[str],
    groups: Sequence[str],
    values: Mapping[str, Mapping[str, Mapping[str, Interval]]],
    group_by: str,
    column_kind: str,
    level: str,
    target: str | None,
    threshold: float | None,
) -> str:
    first = metrics[0]
    parts = []
    for group in groups:
        found = values.get(first, {}).get(group, {})
        means = ", ".join(f"{c} {_fmt(found[c].mean)}" for c in columns if c in found)
        if means:
            parts.append(f"{group}: {means}")
    others = f"; panels also for {', '.join(metrics[1:])}" if len(metrics) > 1 else ""
    goal = f" (target {threshold:g})" if first == target and threshold is not None else ""
    head = (
        f"Dot plot of {first}{goal} per {group_by} for each {column_kind}, with {level} confidence intervals{others}. "
        f"{first} means by {group_by}: "
    )
    return _brief(head, parts, "every number is in the tables")


# --- quality against cost ---------------------------------------------------------------------------


def quality_cost_chart(
    points: Sequence[CostPoint],
    *,
    metric: str,
    level: str,
    cost_label: str,
    threshold: float | None = None,
    key: str = "quality_cost",
) -> Chart | None:
    """Quality (mean with CI) against cost, one colour and marker per series named in a legend.

    Series of unknown cost sit in a strip of their own at the right, titled "cost unknown": they are
    never drawn at a cost of 0. Points of (nearly) the same cost are set side by side, not on top of
    each other; the legend names every series, so no label is printed over another.
    """
    if not points:
        return None
    from matplotlib.figure import Figure

    known = [(i, p) for i, p in enumerate(points) if p.cost is not None]
    unknown = [(i, p) for i, p in enumerate(points) if p.cost is None]
    costs = [p.cost for _, p in known if p.cost is not None]
    log_x = bool(costs) and min(costs) > 0 and max(costs) / min(costs) > 20
    y_label = f"{ellipsize(metric, 32)} (mean, {level} CI)"
    with chart_style():
        fig = Figure(figsize=(WIDTH_IN, 4.4), layout="constrained", dpi=DPI)
        main, strip = _cost_axes(fig, known, unknown)
        placed: dict[str, Any] = {"known": [], "unknown": []}
        handles: dict[int, Any] = {}
        if main is not None:
            placed["known"] = _plot_known_costs(fig, main, known, log_x, handles)
            _style_cost_axis(main, costs, log_x, cost_label, y_label)
        if strip is not None:
            placed["unknown"] = _plot_unknown_costs(strip, unknown, handles, y_label if main is None else None)
        _cost_scale(main, strip, points, threshold)
        _cost_legend(fig, points, handles)
        boxes = text_boxes(fig)
        image = png(fig)
    placed.update(
        {
            "metric": metric,
            "log_x": log_x,
            "strip": "cost unknown" if unknown else None,
            "threshold": threshold,
            "texts": boxes,
            "size_px": (round(fig.get_figwidth() * DPI), round(fig.get_figheight() * DPI)),
        }
    )
    return Chart(
        key=key,
        title="Quality against cost",
        png=image,
        alt=_cost_alt(points, metric, level, cost_label, threshold),
        layout=placed,
    )


_Indexed = Sequence[tuple[int, CostPoint]]
"""Series with their index among all the chart's series (which fixes their colour and marker)."""


def _cost_axes(fig: Figure, known: _Indexed, unknown: _Indexed) -> tuple[Axes | None, Axes | None]:
    """The cost axis for series with a cost, the grey strip for those without: one or both, sharing y."""
    if known and unknown:
        main, strip = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [4, max(1, len(unknown)) * 0.55]})
        return main, strip
    if known:
        return fig.subplots(), None
    return None, fig.subplots()


def _cost_point(ax: Axes, i: int, p: CostPoint, x: float, **where: Any) -> Any:
    """One series' mean and interval at ``x``; the highlighted one larger, edged in black."""
    return ax.errorbar(
        [x],
        [p.quality.mean],
        yerr=_whiskers([p.quality]),
        fmt=marker(i),
        color=colour(i),
        markersize=9 if p.highlight else 7,
        markeredgecolor="black" if p.highlight else colour(i),
        capsize=4,
        label=p.label,
        **where,
    )


def _plot_known_costs(
    fig: Figure, main: Axes, known: _Indexed, log_x: bool, handles: dict[int, Any]
) -> list[dict[str, Any]]:
    """The series with a cost at their cost, those of (nearly) the same cost stepped sideways; their layout."""
    from matplotlib.transforms import ScaledTranslation

    placed = []
    order = sorted(known, key=lambda item: item[1].cost or 0.0)
    dodge = _dodge([p.cost or 0.0 for _, p in order], log_x)
    for (i, p), step in zip(order, dodge, strict=True):
        assert p.cost is not None
        shift = ScaledTranslation(step * 9 / 72, 0, fig.dpi_scale_trans)
        handles[i] = _cost_point(main, i, p, p.cost, transform=main.transData + shift)
        placed.append({"label": p.label, "cost": p.cost, "mean": p.quality.mean, "dodge_pt": step * 9})
    return placed


def _style_cost_axis(main: Axes, costs: Sequence[float], log_x: bool, cost_label: str, y_label: str) -> None:
    """The cost axis: log when costs are far apart (and none is free), else from 0; dollars as written."""
    from matplotlib.ticker import FuncFormatter

    if log_x:
        main.set_xscale("log")
    else:
        main.set_xlim(left=0, right=max(costs) * 1.15 if max(costs) > 0 else 1.0)
    main.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))  # $0.00025, not 0.00000
    main.set_xlabel(cost_label)
    main.set_ylabel(y_label)
    main.grid(color="#e5e5e5", linewidth=0.8)


def _plot_unknown_costs(
    strip: Axes, unknown: _Indexed, handles: dict[int, Any], y_label: str | None
) -> list[dict[str, Any]]:
    """The series of unknown cost, one slot each in the grey "cost unknown" strip (never at 0); their layout."""
    placed = []
    for slot, (i, p) in enumerate(unknown):
        handles[i] = _cost_point(strip, i, p, slot)
        placed.append({"label": p.label, "slot": slot, "mean": p.quality.mean})
    strip.set_facecolor("#f2f2f2")
    strip.set_xlim(-0.6, len(unknown) - 0.4)
    strip.set_xticks([])
    strip.set_title("cost unknown", fontsize=FONT_PT)
    strip.set_xlabel("no price (not 0)", fontsize=SMALLEST_PT)
    strip.grid(axis="y", color="#e0e0e0", linewidth=0.8)
    if y_label is not None:
        strip.set_ylabel(y_label)
    return placed


def _cost_scale(main: Axes | None, strip: Axes | None, points: Sequence[CostPoint], threshold: float | None) -> None:
    """The quality scale (0..1 unless a series goes above), and the target as a dashed line named once."""
    _quality_scale([a for a in (main, strip) if a is not None], [p.quality.high for p in points], threshold)


def _quality_scale(axes: Sequence[Axes], tops: Sequence[float], threshold: float | None) -> None:
    """0..1 (or up to the highest interval), and the target as a dashed line on each, named on the first."""
    for ax in axes:
        ax.set_ylim(-0.03, 1.05 if all(t <= 1 for t in tops) else max(tops) * 1.05)
        if threshold is not None:
            ax.axhline(threshold, color=TARGET_COLOUR, linestyle="--", linewidth=1)
    if threshold is not None and axes:
        axes[0].annotate(
            f"target {threshold:g}",
            (0, threshold),
            xycoords=("axes fraction", "data"),
            xytext=(4, 3),
            textcoords="offset points",
            color=TARGET_COLOUR,
            fontsize=SMALLEST_PT,
        )


def _cost_legend(fig: Figure, points: Sequence[CostPoint], handles: Mapping[int, Any]) -> None:
    """One legend below the axes naming every series in their order, in as many columns as fit."""
    labels = [ellipsize(p.label, LABEL_CHARS) for p in points]
    fig.legend(
        handles=[handles[i] for i in range(len(points))],
        labels=labels,
        loc="outside lower center",
        ncols=legend_columns(labels, 3),
        frameon=False,
    )


def _dodge(costs: Sequence[float], log_x: bool) -> list[float]:
    """Sideways steps (in marker widths) for points whose costs are within 3% of the axis of each other."""
    if not costs:
        return []

    def position(cost: float) -> float:
        return math.log10(cost) if log_x and cost > 0 else cost

    lo, hi = position(min(costs)), position(max(costs))
    span = (hi - lo) or 1.0
    clusters: list[list[float]] = []
    for cost in costs:  # sorted: a cluster is a run of points close to its first
        if clusters and (position(cost) - position(clusters[-1][0])) / span <= 0.03:
            clusters[-1].append(cost)
        else:
            clusters.append([cost])
    return [i - (len(c) - 1) / 2 for c in clusters for i in range(len(c))]


def _cost_alt(points: Sequence[CostPoint], metric: str, level: str, cost_label: str, threshold: float | None) -> str:
    known = [p for p in points if p.cost is not None]
    unknown = [p for p in points if p.cost is None]
    parts = [f"{p.label}: {_fmt(p.quality.mean)} at ${p.cost:,.4g}" for p in known if p.cost is not None]
    parts += [f"{p.label}: {_fmt(p.quality.mean)}, cost unknown" for p in unknown]
    strip = " Series of unknown cost are in a separate strip labelled cost unknown, not at 0." if unknown else ""
    goal = f" Dashed line: the target {threshold:g}." if threshold is not None else ""
    head = f"Chart of {metric} (mean with {level} confidence interval) against {cost_label}.{strip}{goal} "
    return _brief(head, parts, "every number is in the table")


# --- learning curve ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizePoint:
    """One point of a learning curve: training examples, and the metric's mean with its interval."""

    examples: float
    quality: Interval
    label: str = ""


def learning_curve_chart(
    measured: Sequence[SizePoint],
    *,
    curve: Sequence[tuple[float, float]],
    projected: Sequence[SizePoint],
    metric: str,
    level: str,
    threshold: float | None = None,
    verdict: str = "",
    key: str = "learning_curve",
) -> Chart | None:
    """Quality against training examples (log scale): measured runs, fitted curve and extrapolation.

    The measured runs are drawn with their intervals, then the fitted curve (``curve``: sampled points),
    and beyond the largest run a shaded extrapolation with the ``projected`` sizes' intervals.
    ``verdict`` (flat or rising) titles the chart.
    """
    if not measured:
        return None
    from matplotlib.figure import Figure

    largest = max(p.examples for p in measured)
    with chart_style():
        fig = Figure(figsize=(WIDTH_IN, 4.0), layout="constrained", dpi=DPI)
        ax = fig.subplots()
        far = max([largest, *(p.examples for p in projected)])
        if projected:
            ax.axvspan(largest, far * 1.15, color="#f2f2f2", zorder=0, label="extrapolated")
        handles = _curve_series(ax, measured, curve, projected)
        _style_curve_axes(ax, measured, projected, metric, level, threshold)
        ax.set_title(ellipsize(verdict, int(WIDTH_IN / (CHAR_IN * 1.1))) if verdict else "Learning curve")
        labels = list(handles)
        fig.legend(
            handles=list(handles.values()),
            labels=labels,
            loc="outside lower center",
            ncols=legend_columns(labels, 4),
            frameon=False,
        )
        boxes = text_boxes(fig)
        image = png(fig)
    layout = {
        "measured": [_curve_layout(p) for p in measured],
        "projected": [_curve_layout(p) for p in projected],
        "curve": [list(xy) for xy in curve],
        "shaded": [largest, far * 1.15] if projected else None,
        "log_x": True,
        "threshold": threshold,
        "texts": boxes,
        "size_px": (round(fig.get_figwidth() * DPI), round(fig.get_figheight() * DPI)),
    }
    alt = _curve_alt(measured, projected, metric, level, threshold, verdict)
    return Chart(key=key, title="Learning curve", png=image, alt=alt, layout=layout)


def _curve_series(
    ax: Axes, measured: Sequence[SizePoint], curve: Sequence[tuple[float, float]], projected: Sequence[SizePoint]
) -> dict[str, Any]:
    """The measured points, the fitted line (dashed past the largest run) and the projected intervals."""
    handles: dict[str, Any] = {}
    handles["measured (test split)"] = ax.errorbar(
        [p.examples for p in measured],
        [p.quality.mean for p in measured],
        yerr=_whiskers([p.quality for p in measured]),
        fmt=marker(0),
        color=colour(0),
        markersize=7,
        capsize=4,
        zorder=3,
    )
    if curve:
        largest = max(p.examples for p in measured)
        inside = [(x, y) for x, y in curve if x <= largest]
        beyond = [(x, y) for x, y in curve if x >= largest]
        (line,) = ax.plot(*zip(*inside, strict=True), color=colour(1), linewidth=1.6, zorder=2)
        handles["fitted curve"] = line
        if beyond:
            ax.plot(*zip(*beyond, strict=True), color=colour(1), linewidth=1.6, linestyle="--", zorder=2)
    if projected:
        handles["expected with more data"] = ax.errorbar(
            [p.examples for p in projected],
            [p.quality.mean for p in projected],
            yerr=_whiskers([p.quality for p in projected]),
            fmt=marker(1),
            color=colour(2),
            markerfacecolor="white",
            markersize=7,
            capsize=4,
            zorder=3,
        )
    return handles


def _style_curve_axes(
    ax: Axes,
    measured: Sequence[SizePoint],
    projected: Sequence[SizePoint],
    metric: str,
    level: str,
    threshold: float | None,
) -> None:
    """A log axis ticked at the sizes themselves (labelled with ``label`` when given), the 0..1 scale, the target."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    points = [*measured, *projected]
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([p.examples for p in points], [p.label or f"{p.examples:g}" for p in points])
    ax.set_xlim(min(p.examples for p in points) / 1.3, max(p.examples for p in points) * 1.15)
    _quality_scale([ax], [p.quality.high for p in points], threshold)
    ax.set_xlabel("training examples (log scale)")
    ax.set_ylabel(f"{ellipsize(metric, 32)} (mean, {level} CI)")
    ax.grid(color="#e5e5e5", linewidth=0.8)


def _curve_layout(p: SizePoint) -> dict[str, Any]:
    return {"examples": p.examples, "mean": p.quality.mean, "low": p.quality.low, "high": p.quality.high}


def _curve_alt(
    measured: Sequence[SizePoint],
    projected: Sequence[SizePoint],
    metric: str,
    level: str,
    threshold: float | None,
    verdict: str,
) -> str:
    parts = [f"{p.examples:g} examples: {_fmt(p.quality.mean)}" for p in measured]
    parts += [
        f"expected at {p.examples:g} examples: {_fmt(p.quality.mean)} ({_fmt(p.quality.low)}..{_fmt(p.quality.high)})"
        for p in projected
    ]
    goal = f" Dashed line: the target {threshold:g}." if threshold is not None else ""
    said = f" {verdict}." if verdict else ""
    head = (
        f"Learning curve: {metric} (mean with {level} confidence interval) against training examples, "
        f"with the fitted curve and, shaded, its extrapolation.{said}{goal} "
    )
    return _brief(head, parts, "every number is in the table")

"""The reports' charts, checked through the data they plot and the boxes of their texts, not their pixels."""

from __future__ import annotations

import base64
import struct

import pytest

from tunewise.evaluation._charts import (
    OKABE_ITO,
    SMALLEST_PT,
    Chart,
    CostPoint,
    Interval,
    by_group_chart,
    overlapping,
    quality_cost_chart,
)

RUNGS = ["zero_shot", "few_shot", "optimized_prompt", "rag", "fine_tune", "rag_fine_tuned"]


def png_size(chart: Chart) -> tuple[int, int]:
    data = base64.b64decode(chart.png.removeprefix("data:image/png;base64,"))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def readable(chart: Chart) -> None:
    """What every chart owes a reader: fits a laptop's page at 100%, no text over another, none too small."""
    width, _ = png_size(chart)
    assert width <= 1000
    assert not overlapping(chart.layout["texts"])
    assert min(t["size_pt"] for t in chart.layout["texts"]) >= SMALLEST_PT
    assert chart.alt and len(chart.alt) < 2000


def point(mean: float, cost: float | None, label: str, highlight: bool = False) -> CostPoint:
    return CostPoint(label, cost, Interval(mean, max(mean - 0.1, 0), min(mean + 0.1, 1)), highlight)


def test_when_every_cost_is_unknown_only_the_labelled_strip_is_drawn() -> None:
    chart = quality_cost_chart(
        [point(0.1 * i, None, rung + " (cost unknown)") for i, rung in enumerate(RUNGS)],
        metric="token_f1",
        level="95%",
        cost_label="cost per 1k requests ($)",
        threshold=0.6,
    )
    assert chart is not None
    assert chart.layout["known"] == [] and chart.layout["strip"] == "cost unknown"
    assert [p["slot"] for p in chart.layout["unknown"]] == list(range(6))
    texts = [t["text"] for t in chart.layout["texts"]]
    assert "cost unknown" in texts and "cost per 1k requests ($)" not in texts  # no cost axis at all
    assert all(f"{rung} (cost unknown)" in texts for rung in RUNGS)  # long labels, in a legend: none overlaps
    readable(chart)
    assert "zero_shot (cost unknown): 0.00, cost unknown" in chart.alt and "not at 0" in chart.alt


def test_points_of_the_same_cost_stand_side_by_side() -> None:
    chart = quality_cost_chart(
        [
            point(0.5, 0.2, "few_shot"),
            point(0.5, 0.2, "optimized_prompt"),
            point(0.52, 0.2, "rag"),
            point(0.7, 3.0, "x"),
        ],
        metric="f1",
        level="95%",
        cost_label="cost per case ($)",
    )
    assert chart is not None and chart.layout["strip"] is None and not chart.layout["unknown"]
    dodges = {p["label"]: p["dodge_pt"] for p in chart.layout["known"]}
    assert dodges == {"few_shot": -9.0, "optimized_prompt": 0.0, "rag": 9.0, "x": 0.0}
    assert [p["cost"] for p in chart.layout["known"]] == [0.2, 0.2, 0.2, 3.0]  # the true costs are kept
    readable(chart)


@pytest.mark.parametrize(("costs", "log"), [([0.01, 0.02, 5.0], True), ([0.0, 0.02, 5.0], False), ([1.0, 2.0], False)])
def test_costs_far_apart_get_a_log_axis_unless_one_is_free(costs: list[float], log: bool) -> None:
    chart = quality_cost_chart(
        [point(0.3, c, f"r{i}") for i, c in enumerate(costs)] + [point(0.4, None, "unpriced")],
        metric="f1",
        level="95%",
        cost_label="cost",
    )
    assert chart is not None and chart.layout["log_x"] is log
    assert [p["label"] for p in chart.layout["unknown"]] == ["unpriced"]
    readable(chart)


def test_the_chosen_rung_is_named_and_drawn_larger() -> None:
    chart = quality_cost_chart(
        [point(0.3, 1.0, "zero_shot"), point(0.8, 2.0, "fine_tune (chosen)", highlight=True)],
        metric="f1",
        level="90%",
        cost_label="cost",
        threshold=0.7,
    )
    assert chart is not None
    texts = [t["text"] for t in chart.layout["texts"]]
    assert "fine_tune (chosen)" in texts and "target 0.7" in texts and "f1 (mean, 90% CI)" in texts
    readable(chart)


def values(metric_means: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict[str, Interval]]]:
    return {
        m: {g: {c: Interval(v, max(v - 0.1, 0), min(v + 0.1, 1)) for c, v in cols.items()} for g, cols in gs.items()}
        for m, gs in metric_means.items()
    }


def test_the_per_group_chart_has_a_panel_per_metric_and_a_line_per_group() -> None:
    means = {
        "token_f1": {
            "kb": dict(zip(RUNGS, [0.1, 0.1, 0.15, 0.6, 0.2, 0.7], strict=True)),
            "style": dict(zip(RUNGS, [0.2, 0.3, 0.3, 0.3, 0.7, 0.7], strict=True)),
            "handoff": {"zero_shot": 0.5, "rag": 0.5},  # measured on two rungs only
        },
        "must_contain": {
            "kb": dict(zip(RUNGS, [0.0, 0.0, 0.0, 0.8, 0.1, 0.9], strict=True)),
            "billing": {"rag": 0.4},  # only in the second panel: still in the legend
        },
        "judge": {},  # nothing measured: no empty panel
    }
    chart = by_group_chart(
        metrics=["token_f1", "must_contain", "judge"],
        columns=RUNGS,
        groups=["kb", "style", "handoff", "billing"],
        values=values(means),
        group_by="kind",
        column_kind="rung",
        level="95%",
        target="token_f1",
        threshold=0.6,
    )
    assert chart is not None
    layout = chart.layout
    assert layout["metrics"] == ["token_f1", "must_contain"]
    assert layout["groups"] == ["kb", "style", "handoff", "billing"]
    handoff = [p for p in layout["points"] if p["group"] == "handoff"]
    assert [(p["column"], p["mean"]) for p in handoff] == [("zero_shot", 0.5), ("rag", 0.5)]
    # groups sit side by side within a rung's column, in the rung's order from left to right
    at_rag = sorted((p["x"], p["group"]) for p in layout["points"] if (p["column"], p["metric"]) == ("rag", "token_f1"))
    assert [g for _, g in at_rag] == ["kb", "style", "handoff"] and all(2.5 < x < 3.5 for x, _ in at_rag)
    texts = [t["text"] for t in layout["texts"]]
    assert "token_f1 (the target)" in texts and "must_contain" in texts and "target 0.6" in texts
    assert all(rung.replace("_", "_\n") in texts or rung in texts for rung in RUNGS) and "kind" in texts
    assert all(group in texts for group in ("kb", "style", "handoff", "billing"))
    assert "kb: zero_shot 0.10, few_shot 0.10, optimized_prompt 0.15, rag 0.60" in chart.alt
    assert "handoff: zero_shot 0.50, rag 0.50" in chart.alt and "panels also for must_contain" in chart.alt
    readable(chart)


def test_a_per_group_chart_of_strategies_in_two_columns() -> None:
    means = {m: {"kb": {"zero": 0.2, "prompted": 0.9}, "style": {"zero": 0.8, "prompted": 0.8}} for m in ("a", "b")}
    chart = by_group_chart(
        metrics=["a", "b"],
        columns=["zero", "prompted"],
        groups=["kb", "style"],
        values=values(means),
        group_by="kind",
        column_kind="strategy",
        level="95%",
        connect=False,
    )
    assert chart is not None and chart.alt.startswith("Dot plot of a per kind for each strategy")
    readable(chart)


def test_nothing_to_plot_is_no_chart() -> None:
    empty = by_group_chart(
        metrics=["a"], columns=["x"], groups=["g"], values={}, group_by="kind", column_kind="rung", level="95%"
    )
    assert empty is None
    assert quality_cost_chart([], metric="a", level="95%", cost_label="cost") is None


def test_the_palette_is_okabe_ito() -> None:
    assert OKABE_ITO[:6] == ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")


def test_names_with_dollar_signs_and_backslashes_are_drawn_as_text() -> None:
    hostile = ["a$\\frac{$b", "$x$ and $y$", "$\\bad$"]
    chart = quality_cost_chart(
        [point(0.5, 1.0, hostile[0]), point(0.6, None, hostile[1])],
        metric=hostile[2],
        level="95%",
        cost_label="cost ($)",
    )
    assert chart is not None
    texts = [t["text"] for t in chart.layout["texts"]]
    assert hostile[0] in texts and hostile[1] in texts and f"{hostile[2]} (mean, 95% CI)" in texts
    grouped = by_group_chart(
        metrics=[hostile[2]],
        columns=hostile[:2],
        groups=["$1 plans$"],
        values=values({hostile[2]: {"$1 plans$": {hostile[0]: 0.5, hostile[1]: 0.7}}}),
        group_by="$kind$",
        column_kind="rung",
        level="95%",
    )
    assert grouped is not None and "$1 plans$" in [t["text"] for t in grouped.layout["texts"]]
    readable(chart)


@pytest.mark.parametrize(
    ("text", "chars", "lines"),
    [
        ("optimized_prompt", 10, ["optimized_", "prompt"]),
        ("rag_fine_tuned", 10, ["rag_fine_", "tuned"]),
        ("zero_shot", 10, ["zero_shot"]),
        ("x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
        ("one-two-three-four-five-six-seven", 8, ["one-two-", "three-", "four-…en"]),
    ],
)
def test_tick_labels_wrap_where_words_break(text: str, chars: int, lines: list[str]) -> None:
    from tunewise.evaluation._charts import wrap_label

    assert wrap_label(text, chars).split("\n") == lines


def test_many_long_names_still_fit_without_overlapping() -> None:
    names = [f"strategy_number_{i}_with_a_rather_long_descriptive_name" for i in range(9)]
    grouped = by_group_chart(
        metrics=["exact_match_but_with_a_very_long_metric_name_indeed", "b"],
        columns=names,
        groups=[f"group {i} of cases with a long label" for i in range(10)],
        values=values(
            {
                m: {f"group {i} of cases with a long label": dict.fromkeys(names, 0.1 * i) for i in range(10)}
                for m in ("exact_match_but_with_a_very_long_metric_name_indeed", "b")
            }
        ),
        group_by="kind",
        column_kind="strategy",
        level="95%",
        connect=False,
    )
    assert grouped is not None
    readable(grouped)
    costly = quality_cost_chart(
        [point(0.1 * i, float(i + 1) if i % 2 else None, name) for i, name in enumerate(names)],
        metric="exact_match_but_with_a_very_long_metric_name_indeed",
        level="95%",
        cost_label="cost per case ($)",
    )
    assert costly is not None
    readable(costly)

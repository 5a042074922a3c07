"""The ladder's report as a reader sees it: the per-kind chart, quality against cost with unknown costs apart,
sample answers side by side (escaped, key phrases marked) and short model names, in HTML and in Markdown.

One ladder on the scripted world (tests/ladder_world.py) feeds every test: prompt rungs are priced, the
fine-tuned model is not, so both halves of the quality-against-cost chart are drawn.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import ladder_world as world  # tests/ladder_world.py: tests/conftest.py puts the folder on sys.path
import markupsafe
import pytest

from tunewise import ChatRequest
from tunewise.evaluation._charts import SMALLEST_PT, overlapping
from tunewise.ladder import LadderReport, build_ladder_report, run_ladder

MARKUP = "<script>alert('x')</script></td><b>"
"""The base model's answers carry markup a report must show as text."""
FILLER = " and so on" * 60
"""...and run long, so the report cuts them."""
PRICES = {"scripted:base": {"input": 0.15, "output": 0.6}, "scripted:writer": {"input": 2.5, "output": 10.0}}
"""The base model has a price, its fine-tuned models none: prompt rungs priced, fine-tune rungs unknown."""


def kind_of(i: int) -> dict[str, object]:
    """Every third test case needs the knowledge base (its code is the key phrase); the rest are style cases."""
    if i % 3 == 0:
        return {"kind": "kb", "must_contain": [world.answer(i)]}
    return {"kind": "style"}


class KindWorld(world.World):  # type: ignore[misc,name-defined]
    """The fine-tune knows style cases by heart and kb facts only from retrieved passages; the base model knows
    nothing and says so at length, with markup in its answer."""

    def __call__(self, request: ChatRequest) -> str:
        if not request.model.startswith("ft:"):
            said: str = super().__call__(request)
            return said if said.startswith("<instruction>") else f"I am not sure. {MARKUP}{FILLER}"
        self.calls.append("ft")
        text = " ".join(m.content or "" for m in request.messages)
        user = [m.content or "" for m in request.messages if m.role == "user"][-1]
        i = next(int(w) for w in user.replace("?", " ").split() if w.isdigit())
        grounded = "seven times the item number" in text
        if i % 3 == 0:
            return world.answer(i).upper() if grounded else "unknown"  # right, in capitals
        return "\n\n  \n" if grounded else world.answer(i)  # thrown off by the passages: says nothing


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LadderReport]]:
    folder = tmp_path_factory.mktemp("ladder")
    report = '\n[report]\nmetrics = ["must_contain"]\ngroup_by = "kind"\n'
    config = world.write_world(folder, test=30, extra=report, metadata=kind_of)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNEWISE_PRICES", json.dumps(PRICES))
        provider = world.WorldProvider(KindWorld(), folder / "jobs.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = anyio.run(lambda: run_ladder(config, providers={"scripted": provider}))
        yield outcome.out, build_ladder_report(outcome.out)


RUNGS = ["zero_shot", "few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"]


def test_the_per_kind_chart_shows_every_rung_on_every_kind_for_each_metric(
    ladder: tuple[Path, LadderReport],
) -> None:
    _, report = ladder
    chart = report.charts["by_group"]
    layout = chart.layout
    assert layout["metrics"] == ["exact_match", "must_contain"] and layout["columns"] == RUNGS
    assert layout["groups"] == ["style", "kb"] and layout["threshold"] == 0.8

    def mean(metric: str, group: str, rung: str) -> float:
        found = [p for p in layout["points"] if (p["metric"], p["group"], p["column"]) == (metric, group, rung)]
        assert len(found) == 1, (metric, group, rung)
        return float(found[0]["mean"])

    # facts rise with retrieval, style with fine-tuning: what the chart is for
    assert [mean("exact_match", "kb", r) for r in RUNGS] == [0, 0, 0, 0, 1]
    assert [mean("exact_match", "style", r) for r in RUNGS] == [0, 0, 0, 1, 0]
    assert [mean("must_contain", "kb", r) for r in RUNGS] == [0, 0, 0, 0, 1]
    # must_contain does not apply to style cases: no point, rather than a 0
    assert not [p for p in layout["points"] if p["metric"] == "must_contain" and p["group"] == "style"]
    # intervals drawn are the state's
    tuned = report.state.results["fine_tune"].groups["style"].metrics["exact_match"]
    point = next(p for p in layout["points"] if (p["group"], p["column"]) == ("style", "fine_tune"))
    assert (point["low"], point["high"]) == (tuned.ci_low, tuned.ci_high)
    assert chart.alt.startswith("Dot plot of exact_match (target 0.8) per kind for each rung, with 95% confidence")
    assert "kb: zero_shot 0.00, few_shot 0.00, optimized_prompt 0.00, fine_tune 0.00, rag_fine_tuned 1.00" in chart.alt
    assert not overlapping(layout["texts"]) and min(t["size_pt"] for t in layout["texts"]) >= SMALLEST_PT
    assert layout["size_px"][0] <= 1000  # fits the page's column at 100%


def test_quality_against_cost_keeps_unknown_costs_in_their_own_strip(ladder: tuple[Path, LadderReport]) -> None:
    _, report = ladder
    costs = report.recommendation.costs
    assert [r for r in RUNGS if costs[r].per_1k_requests is None] == ["fine_tune", "rag_fine_tuned"]
    layout = report.charts["quality_cost"].layout
    assert layout["strip"] == "cost unknown"
    assert [p["label"] for p in layout["known"]] == ["zero_shot", "few_shot", "optimized_prompt"]
    assert all(p["cost"] == costs[p["label"]].per_1k_requests and p["cost"] > 0 for p in layout["known"])
    assert [(p["label"], p["slot"]) for p in layout["unknown"]] == [("fine_tune", 0), ("rag_fine_tuned", 1)]
    # few_shot reuses... no: prompt rungs of (nearly) the same cost stand side by side, not on top of each other
    close = [p for p in layout["known"] if abs(p["cost"] - layout["known"][0]["cost"]) < 1e-9]
    assert len({p["dodge_pt"] for p in close}) == len(close)
    labels = [t["text"] for t in layout["texts"]]
    assert all(label in labels for label in RUNGS) and "cost unknown" in labels
    assert not overlapping(layout["texts"]) and min(t["size_pt"] for t in layout["texts"]) >= SMALLEST_PT
    alt = report.charts["quality_cost"].alt
    assert "fine_tune: 0.67, cost unknown" in alt and "not at 0" in alt


def test_the_html_page_shows_the_charts_with_alt_text_and_no_chart_slot_left_empty(
    ladder: tuple[Path, LadderReport],
) -> None:
    out, report = ladder
    html = (out / "report.html").read_text(encoding="utf-8")
    images = re.findall(r"<img ([^>]*)>", html)
    assert len(images) == 2
    for image in images:
        alt = re.search(r'alt="([^"]*)"', image)
        assert alt and len(alt.group(1)) > 40 and 'src="data:image/png;base64,' in image
    assert "<h2>Quality against cost</h2>" in html and "unknown is not zero" in html
    assert report.learning_curve is None and "Learning curve" not in html  # the slot shows only when filled
    assert html.index("<h2>Quality against cost</h2>") < html.index("<h2>By kind</h2>") < html.index("Sample answers")


def test_sample_answers_follow_the_stated_rule_with_key_phrases_marked(ladder: tuple[Path, LadderReport]) -> None:
    out, report = ladder
    samples = report.samples
    assert samples is not None and samples.metrics == ("exact_match", "must_contain")
    assert "the 2 test cases where the rungs' exact_match scores differ most" in samples.rule
    groups = samples.by_group()
    assert [g for g, _ in groups] == ["style", "kb"] and all(len(cases) == 3 for _, cases in groups)
    kb = dict(groups)["kb"]
    # every kb case has the rungs disagree (rag_fine_tuned right, the rest wrong): the first two in file order,
    # then the typical one
    assert [c.case_id for c in kb] == ["test-2001", "test-2004", "test-2007"]
    assert kb[0].why == "the rungs differ most here: exact_match from 0.00 to 1.00"
    assert kb[2].why.startswith("a typical case")
    first = kb[0]
    assert first.question.short[0].text == world.question(2001) and first.phrases == (world.answer(2001),)
    answers = {a.rung: a for a in first.answers}
    assert list(answers) == RUNGS
    # every rung answered every sample, optimized_prompt too (its answers are few_shot's, reused: another name)
    assert report.state.results["optimized_prompt"].run_id == report.state.results["few_shot"].run_id
    assert all(a.text is not None and a.error is None for c in samples.cases for a in c.answers)
    assert answers["rag_fine_tuned"].matched == (world.answer(2001),) and not answers["rag_fine_tuned"].missed
    assert answers["fine_tune"].missed == (world.answer(2001),)
    assert answers["rag_fine_tuned"].scores == {"exact_match": 1.0, "must_contain": 1.0}
    marked = [s.text for s in answers["rag_fine_tuned"].text.short if s.mark]  # type: ignore[union-attr]
    assert marked == [world.answer(2001).upper()]  # found case-insensitively, marked as written
    style = dict(groups)["style"][0]
    assert {a.rung: a.scores["must_contain"] for a in style.answers} == dict.fromkeys(RUNGS)  # n/a, not 0
    assert style.answers[-1].text is not None and style.answers[-1].text.short == ()  # white space only
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"<mark>{world.answer(2001).upper()}</mark>" in html
    assert '<td>rag_fine_tuned</td><td class="text"><span class="muted">(empty answer)</span></td>' in html
    assert re.search(r'<td class="missed">' + re.escape(world.answer(2001)) + "</td>", html)


def test_answers_are_escaped_and_long_ones_cut_with_the_whole_text_kept(ladder: tuple[Path, LadderReport]) -> None:
    out, _ = ladder
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "<b>" not in html
    assert str(markupsafe.escape(MARKUP)) in html
    # one </td> per cell the page itself writes: none came from an answer
    assert html.count("</td>") == html.count("<td")
    assert "…<details><summary>whole text</summary>" in html
    whole = re.search(r"<details><summary>whole text</summary>(.*?)</details>", html, re.DOTALL)
    assert whole and htmllib.unescape(whole.group(1)).strip() == f"I am not sure. {MARKUP}{FILLER}"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "&lt;script&gt;alert" in md


def test_tables_show_short_model_names_with_the_full_reference_at_hand(ladder: tuple[Path, LadderReport]) -> None:
    out, report = ladder
    html = (out / "report.html").read_text(encoding="utf-8")
    tuned = report.state.results["fine_tune"].model
    assert tuned.startswith("scripted:ft:base:ladder:ftjob-")
    assert f'<td title="{tuned}">base fine-tuned ({tuned.rsplit(":", 1)[1]})</td>' in html
    assert '<td title="scripted:base">base</td>' in html
    assert f"<li>model <code>{tuned}</code></li>" in html  # the rung details keep the whole reference
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| fine_tune | base fine-tuned (ftjob-0001) |" in md and f"- model `{tuned}`" in md


def test_the_markdown_report_carries_the_same_content_as_tables(ladder: tuple[Path, LadderReport]) -> None:
    out, report = ladder
    md = (out / "report.md").read_text(encoding="utf-8")
    costs = report.recommendation.costs
    assert "## Quality against cost" in md
    section = md[md.index("## Quality against cost") : md.index("## By kind")]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| rung")]
    assert [row.split(" | ")[0].lstrip("| ") for row in rows] == RUNGS  # cheapest first, unknown after them
    assert rows[-1].endswith("| unknown |") and rows[-2].endswith("| unknown |")
    assert f"${costs['zero_shot'].per_1k_requests:.4f}" in rows[0]
    assert "| kb | 10 | 0.000 [0.000, 0.000] |" in md  # the per-kind tables, with intervals
    assert "## Sample answers" in md and "the 2 test cases where the rungs' exact_match scores differ most" in md
    assert "### kb: test-2001" in md
    assert f"| rag_fine_tuned | **{world.answer(2001).upper()}** | 1.00 | 1.00 | none |" in md
    assert f"| fine_tune | unknown | 0.00 | 0.00 | {world.answer(2001)} |" in md
    assert "| rag_fine_tuned | (empty answer) | 0.00 | n/a |" in md


def test_a_report_without_its_run_store_says_why_there_are_no_samples(
    ladder: tuple[Path, LadderReport], tmp_path: Path
) -> None:
    import shutil

    out, _ = ladder
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "state.json"):
        shutil.copy(out / name, copy / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNEWISE_PRICES", json.dumps(PRICES))
        report = build_ladder_report(copy)
    assert report.samples is not None and not report.samples.cases
    assert "No sample answers: no run store (runs.sqlite)" in report.html()
    assert "No sample answers: no run store (runs.sqlite)" in report.markdown()


@pytest.mark.anyio
async def test_grouping_afterwards_splits_every_rung_even_one_that_reused_another_rungs_answers(
    tmp_path: Path,
) -> None:
    config = world.write_world(tmp_path, test=12, metadata=kind_of)
    provider = world.WorldProvider(KindWorld(), tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = await run_ladder(config, providers={"scripted": provider})
        reused = first.state.results["optimized_prompt"]
        assert reused.run_id == first.state.results["few_shot"].run_id and reused.groups == {}
        config.write_text(config.read_text() + '\n[report]\ngroup_by = "kind"\n')
        again = await run_ladder(config, providers={"scripted": provider})
    for rung, result in again.state.results.items():
        assert list(result.groups) == ["style", "kb"], rung
        assert (result.groups["style"].n, result.groups["kb"].n) == (8, 4), rung
    report = build_ladder_report(again.out)
    columns = {p["column"] for p in report.charts["by_group"].layout["points"]}
    assert columns == set(again.state.results)

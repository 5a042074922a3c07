"""Reports render from a real run: Markdown tables and verdicts, a self-contained HTML page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tunewise import ChatRequest, Model, ModelRef, Usage
from tunewise.evaluation import Case, RunStore, adjust_p_values, build_report, compare_runs, evaluate
from tunewise.strategies import SystemPrompt, ZeroShot
from tunewise.testing import ScriptedProvider


def answer_for(request: ChatRequest) -> str:
    """Weak on odd cases without a system prompt; always right with one. Some text needs escaping."""
    question = request.messages[-1].content or ""
    n = int(question.split()[-1].rstrip("?"))
    if request.messages[0].role == "system" or n % 3 == 0:
        return f"answer {n}"
    return f"<b>no idea</b> about {n}"


@pytest.fixture
async def run(tmp_path: Path) -> tuple[RunStore, str]:
    provider = ScriptedProvider(answer_for)
    base = Model(ModelRef(prefix="scripted", name="m"), provider)
    cases = [Case.of(f"What about {i}?", f"answer {i}", id=f"c{i}") for i in range(60)]
    summary = await evaluate(
        [ZeroShot(base, name="zero"), SystemPrompt(base, "Answer well.", name="prompted")],
        cases,
        ["exact_match", "token_f1"],
        store=tmp_path / "runs.sqlite",
        run_id="demo",
        cost=lambda ref, usage: 0.001 * (usage.total_tokens or 0) / 1000,
    )
    assert summary.ok == 120
    return RunStore(tmp_path / "runs.sqlite"), "demo"


@pytest.mark.anyio
async def test_markdown_report(run: tuple[RunStore, str]) -> None:
    store, run_id = run
    report = build_report(store, run_id)
    md = report.markdown()
    assert md.startswith("# Evaluation report: demo")
    assert "| zero | 60 | 0 |" in md and "| prompted | 60 | 0 |" in md
    assert "prompted better than zero by 0.67 on exact_match (95% CI" in md
    assert "McNemar exact, 60 paired cases" in md and "(paired permutation, 60 paired cases)" in md
    # one pair of strategies: no correction by default, and the report says so
    assert report.correction is None
    assert "Multiple comparisons: no correction over the 2 comparisons below" in md
    assert "## prompted vs zero: cases that differ on exact_match (40)" in md
    assert md.count("| win |") == 40
    assert report.strategies[0].cost is not None and report.strategies[0].cost > 0


@pytest.mark.anyio
async def test_html_report_is_self_contained(run: tuple[RunStore, str], tmp_path: Path) -> None:
    store, run_id = run
    md_path, html_path = build_report(store, run_id).write(tmp_path / "out")
    html = html_path.read_text()
    assert md_path.read_text().startswith("# Evaluation report")
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:)", html)  # nothing loaded from anywhere
    assert "http://" not in html and "https://" not in html and "<script" not in html
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # scores with CI bars, cost vs quality, latency
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert "&lt;b&gt;no idea&lt;/b&gt;" in html and "<b>no idea</b>" not in html
    assert "prompted better than zero" in html


@pytest.mark.anyio
async def test_compare_runs_selects_by_run_and_strategy(run: tuple[RunStore, str]) -> None:
    store, _ = run
    (em, f1) = compare_runs(store, "demo/zero", "demo/prompted")
    assert em.metric == "exact_match" and em.binary and em.n == 60
    assert em.losses == 0 and em.wins == 40
    assert em.difference == pytest.approx(40 / 60)
    assert f1.test == "paired permutation"
    (again,) = compare_runs(store, "zero", "prompted", metrics=["exact_match"])  # strategy names of the newest run
    assert again.p_value == em.p_value


@pytest.mark.anyio
async def test_three_strategies_are_holm_corrected_by_default(tmp_path: Path) -> None:
    provider = ScriptedProvider(answer_for)
    base = Model(ModelRef(prefix="scripted", name="m"), provider)
    cases = [Case.of(f"What about {i}?", f"answer {i}", id=f"c{i}") for i in range(24)]
    strategies = [ZeroShot(base, name="zero"), SystemPrompt(base, "Answer well.", name="prompted")]
    strategies.append(SystemPrompt(base, "Be brief.", name="brief"))
    await evaluate(strategies, cases, ["exact_match", "token_f1"], store=tmp_path / "r.sqlite", run_id="three")
    with RunStore(tmp_path / "r.sqlite") as store:
        report = build_report(store, "three")
        raw = build_report(store, "three", correction=None)
        strict = build_report(store, "three", confidence=0.99, correction="bonferroni")
        (pair,) = compare_runs(store, "three/zero", "three/brief", metrics=["exact_match"])
        both = compare_runs(store, "three/zero", "three/brief", correction="holm")
    assert report.correction == "holm" and len(report.comparisons) == 4
    assert all(c.correction == "holm" and c.family == 4 and c.p_adjusted is not None for c in report.comparisons)
    assert [c.p_adjusted for c in report.comparisons] == pytest.approx(
        adjust_p_values([c.p_value for c in raw.comparisons], "holm")
    )
    md = report.markdown()
    assert "Multiple comparisons: Holm correction over the 4 comparisons below" in md
    assert "Holm-adjusted for 4 comparisons" in md and "Holm correction" in report.html()
    assert all(c.correction is None for c in raw.comparisons)
    assert strict.correction == "bonferroni" and all(
        c.confidence == 0.99 and c.alpha == pytest.approx(0.01) for c in strict.comparisons
    )
    assert "## Scores (mean, 99% bootstrap CI)" in strict.markdown() and "99% CI" in strict.html()
    assert pair.correction is None and pair.p_adjusted is None  # one pair, one metric: nothing to correct
    assert [c.family for c in both] == [2, 2] and all(c.p_adjusted is not None for c in both)


def test_unknown_costs_say_so(tmp_path: Path) -> None:
    import anyio

    provider = ScriptedProvider(answer_for)
    base = Model(ModelRef(prefix="scripted", name="m"), provider)
    cases = [Case.of(f"What about {i}?", f"answer {i}", id=f"c{i}") for i in range(5)]
    anyio.run(lambda: evaluate([ZeroShot(base, name="zero")], cases, store=tmp_path / "r.sqlite", run_id="x"))
    with RunStore(tmp_path / "r.sqlite") as store:
        report = build_report(store, "x")
    assert "| unknown | unknown |" in report.markdown()
    assert "costs unknown" in report.html()
    assert Usage().total_tokens is None

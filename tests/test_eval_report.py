"""Reports render from a real run: Markdown tables and verdicts, a self-contained HTML page."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tunewise import ChatRequest, Model, ModelRef, Usage
from tunewise.evaluation import Case, RunStore, adjust_p_values, build_report, compare_runs, evaluate
from tunewise.evaluation._report import _charts
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
    alts = re.findall(r'<img alt="([^"]*)"', html)
    assert len(alts) == 3 and all(len(alt) > 40 for alt in alts)  # each says what it shows, with the numbers
    assert alts[0].startswith("Bar chart of exact_match per strategy with 95% confidence intervals: zero 0.")
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


def support_answer(request: ChatRequest) -> str:
    """Knows the house style; knows the facts (kb cases, numbers divisible by 3) only when prompted."""
    question = request.messages[-1].content or ""
    n = int(question.split()[-1].rstrip("?"))
    if n % 3 == 0 and request.messages[0].role != "system":
        return "Hi there! I am not sure. -- Lumen Support"
    return f"Hi there! It is {n} minutes. -- Lumen Support"


def support_cases() -> list[Case]:
    cases = []
    for i in range(63):
        kind = "general" if i >= 60 else "kb" if i % 3 == 0 else "style"
        facts = [f"{i} minutes"] if kind == "kb" else []  # style cases have no key facts to check
        reference = f"Hi there! It is {i} minutes. -- Lumen Support"
        cases.append(Case.of(f"How long for {i}?", reference, id=f"t{i}", kind=kind, must_contain=facts))
    return cases


@pytest.mark.anyio
async def test_results_per_kind_with_must_contain(tmp_path: Path) -> None:
    base = Model(ModelRef(prefix="scripted", name="m"), ScriptedProvider(support_answer))
    await evaluate(
        [ZeroShot(base, name="zero"), SystemPrompt(base, "Use the facts.", name="prompted")],
        support_cases(),
        ["exact_match", "must_contain"],
        store=tmp_path / "runs.sqlite",
        run_id="kinds",
        group_by="kind",
    )
    with RunStore(tmp_path / "runs.sqlite") as store:
        # must_contain applies to the 20 kb cases only; the others have no score on it, and say why
        style = store.results("kinds", "zero")[1]
        assert "must_contain" not in style.scores and style.not_applicable("must_contain")
        assert style.details["must_contain"] == "not applicable: no metadata.must_contain"
        assert not style.not_applicable("exact_match")
        report = build_report(store, "kinds")  # group_by comes from the run
        overall = compare_runs(store, "kinds/zero", "kinds/prompted", metrics=["must_contain"])
        grouped = compare_runs(store, "kinds/zero", "kinds/prompted", metrics=["must_contain"], group_by="kind")
    assert report.group_by == "kind" and [g.name for g in report.groups] == ["kb", "style", "general"]
    kb, style_group, general = report.groups
    assert (kb.cases, style_group.cases, general.cases) == (20, 40, 3) and general.small and not kb.small
    zero_kb = next(s for s in kb.strategies if s.name == "zero")
    assert zero_kb.scores["must_contain"][0] == 0.0 and zero_kb.scored["must_contain"] == 20
    assert "must_contain" not in next(s for s in style_group.strategies if s.name == "zero").scores
    # the paired comparison inside each group: a clear win on kb, nothing on style, no test on must_contain there
    kb_verdict = next(c for c in kb.comparisons if c.metric == "must_contain").verdict
    assert kb_verdict.startswith("prompted better than zero by 1.00 on must_contain for kind=kb (95% CI 1.00..1.00)")
    assert {c.metric for c in style_group.comparisons} == {"exact_match"}
    assert [c.group for c in grouped] == [None, "kb"] and grouped[0] == overall[0]
    # overall, must_contain covers only the cases it applies to
    assert overall[0].n == 20 and overall[0].difference == 1.0
    md = report.markdown()
    assert "## By kind (mean, 95% bootstrap CI)" in md
    assert "| kb | 20 | zero | 20 | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | unknown |" in md
    assert "| kb | 20 | prompted | 20 | 1.000 [1.000, 1.000] | 1.000 [1.000, 1.000] | unknown |" in md
    assert "| style | 40 | zero | 40 | 1.000 [1.000, 1.000] | n/a | unknown |" in md
    assert "| zero | 63 | 0 | 0.667 [" in md and "0.000 [0.000, 0.000] (n=20) |" in md
    assert "- **general** (3 cases, a small group)" in md
    assert "no difference detected on exact_match for kind=general with 3 cases" in md
    assert "prompted better than zero by 1.00 on exact_match for kind=kb (95% CI 1.00..1.00), p<0.001" in md
    html = report.html()
    assert "<h2>By kind</h2>" in html
    chart = _charts(report)["groups"]
    assert chart.alt.startswith("Dot plot of exact_match per kind for each strategy, with 95% confidence intervals")
    assert "kb: zero 0.00, prompted 1.00" in chart.alt and f'alt="{chart.alt}"' in html
    assert chart.layout["metrics"] == ["exact_match", "must_contain"]
    assert chart.layout["columns"] == ["zero", "prompted"]
    assert not [p for p in chart.layout["points"] if p["metric"] == "must_contain" and p["group"] == "style"]


def test_strategies_of_unknown_cost_stand_apart_on_the_cost_chart(tmp_path: Path) -> None:
    import anyio

    base = Model(ModelRef(prefix="scripted", name="m"), ScriptedProvider(answer_for))
    cases = [Case.of(f"What about {i}?", f"answer {i}", id=f"c{i}") for i in range(12)]

    def price(ref: str, usage: Usage) -> float | None:  # the prompted strategy's calls have no price
        return None if usage.prompt_tokens and usage.prompt_tokens > 10 else 0.002

    anyio.run(
        lambda: evaluate(
            [ZeroShot(base, name="zero"), SystemPrompt(base, "Answer well, and at length please.", name="prompted")],
            cases,
            store=tmp_path / "r.sqlite",
            run_id="x",
            cost=price,
        )
    )
    with RunStore(tmp_path / "r.sqlite") as store:
        report = build_report(store, "x")
    assert [s.cost_per_case is None for s in report.strategies] == [False, True]
    chart = _charts(report)["cost"]
    assert [p["label"] for p in chart.layout["known"]] == ["zero"] and chart.layout["known"][0]["cost"] > 0
    assert [p["label"] for p in chart.layout["unknown"]] == ["prompted"] and chart.layout["strip"] == "cost unknown"
    assert "prompted: 1.00, cost unknown" in chart.alt
    assert "unknown is not zero" in report.html()


@pytest.mark.anyio
async def test_group_by_a_key_no_case_has_is_an_error(tmp_path: Path) -> None:
    from tunewise import ConfigError

    base = Model(ModelRef(prefix="scripted", name="m"), ScriptedProvider(support_answer))
    with pytest.raises(ConfigError, match=r"group_by 'knid': no case has metadata.knid \(keys found: kind, must_con"):
        await evaluate([ZeroShot(base)], support_cases(), store=tmp_path / "r.sqlite", group_by="knid")
    await evaluate([ZeroShot(base, name="zero")], support_cases(), store=tmp_path / "r.sqlite", run_id="r")
    with RunStore(tmp_path / "r.sqlite") as store:
        assert build_report(store, "r").groups == []  # not grouped unless asked
        with pytest.raises(ConfigError, match=r"group_by 'knid': no case has metadata\.knid"):
            build_report(store, "r", group_by="knid")

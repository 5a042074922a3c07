"""The offline support-bot demo end to end at a reduced size: tiny model, real Chroma, real LoRA, real reports."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise import ConfigError, DataError
from tunewise.cli._app import app
from tunewise.demo import QUICK, TINY_NOTICE, DemoOutcome, corpus, find_example
from tunewise.ladder import RUNG_ORDER, build_ladder_report, load_ladder_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


@pytest.fixture
def demo(quick_demo: DemoOutcome) -> DemoOutcome:
    return quick_demo  # one quick run per session, shared with the browser test (tests/conftest.py)


@pytest.mark.slow
def test_the_demo_climbs_every_rung_and_writes_a_consistent_report(demo: DemoOutcome) -> None:
    state = demo.outcome.state
    rec = demo.recommendation()
    # every rung was either measured or skipped with a reason; with a model this small none passes
    assert set(state.results) | set(state.skipped) == set(RUNG_ORDER)
    assert "fine_tune" in state.results and "rag_fine_tuned" in state.results
    assert all(r.n == QUICK.test_cases for r in state.results.values())
    passed = [rung for rung in RUNG_ORDER if rung in state.results and state.results[rung].status == "passed"]
    assert rec.chosen == (passed[0] if passed else None)
    best = max(state.results.values(), key=lambda r: r.mean)
    assert rec.best is not None and state.results[rec.best].mean == best.mean
    # the fine-tuned model is the demo model plus a LoRA adapter trained in this run
    assert demo.tiny and demo.model == f"local:{demo.out / 'model'}"
    assert state.fine_tune is not None and state.fine_tune.model is not None
    assert state.fine_tune.model.startswith(demo.model + "+")
    adapter = Path(state.fine_tune.model.split("+", 1)[1])
    assert (adapter / "adapter_model.safetensors").is_file()
    # the reports exist and say the same as the state
    html = demo.report_html.read_text(encoding="utf-8")
    markdown = demo.report_md.read_text(encoding="utf-8")
    report = build_ladder_report(demo.ladder_out)
    assert [r.rung for r in report.rows] == [r for r in RUNG_ORDER if r in state.results]
    for row in report.rows:
        assert row.rung in html and row.rung in markdown
        assert f"{row.mean:.3f}" in markdown
    assert html.lstrip().lower().startswith("<!doctype html")
    # the example's [report]: must_contain on every answer (no extra model call) and every score per kind
    assert all(r.metrics["must_contain"].n == QUICK.test_cases for r in state.results.values())
    assert all(r.group_by == "kind" and list(r.groups) == ["kb", "style", "handoff", "general"] for r in report.rows)
    assert all(g.n == 2 for r in report.rows for g in r.groups.values())  # --quick: two test cases of each kind
    # every rung has a cost: the local model's measured compute time x the CPU's hourly rate
    assert all(rec.costs[rung].per_1k_requests for rung in state.results), rec.costs
    assert state.spent is not None and state.spent > 0 and not state.unknown_prices
    assert "## By kind" in markdown and "| handoff | 2 (small) |" in markdown and "<h2>By kind</h2>" in html


@pytest.mark.slow
def test_the_demo_report_shows_the_decision_charts_sample_answers_and_short_names(demo: DemoOutcome) -> None:
    report = build_ladder_report(demo.ladder_out)
    html = demo.report_html.read_text(encoding="utf-8")
    markdown = demo.report_md.read_text(encoding="utf-8")
    rungs = [row.rung for row in report.rows]
    # the per-kind chart: every rung on every kind, for the target and both report metrics
    by_kind = report.charts["by_group"].layout
    assert by_kind["metrics"] == ["token_f1", "must_contain", "key_phrases"] and by_kind["columns"] == rungs
    assert by_kind["groups"] == ["kb", "style", "handoff", "general"]
    assert {(p["group"], p["column"]) for p in by_kind["points"] if p["metric"] == "token_f1"} == {
        (g, r) for g in by_kind["groups"] for r in rungs
    }
    # quality against cost: every rung is priced here (compute time), so none sits in the unknown strip
    cost = report.charts["quality_cost"].layout
    assert [p["label"].removesuffix(" (chosen)") for p in cost["known"]] == [
        r.rung for r in sorted(report.rows, key=lambda r: report.recommendation.costs[r.rung].per_1k_requests or 0)
    ]
    assert cost["unknown"] == [] and cost["strip"] is None and all(p["cost"] > 0 for p in cost["known"])
    assert len(re.findall(r'<img alt="[^"]{40,}" src="data:image/png;base64,', html)) == 2
    # sample answers: up to three per kind, each rung's answer with its key phrases marked or listed as missed
    assert report.samples is not None and report.samples.cases
    per_kind = dict(report.samples.by_group())
    assert list(per_kind) == ["kb", "style", "handoff", "general"] and all(len(c) <= 3 for c in per_kind.values())
    assert all([a.rung for a in case.answers] == rungs for case in report.samples.cases)
    assert all(case.phrases for case in report.samples.cases)  # every demo case names its key phrases
    assert '<h2 id="samples">Sample answers</h2>' in html and "## Sample answers" in markdown
    assert html.count('class="missed"') == sum(len(c.answers) for c in report.samples.cases)
    # short model names, the whole reference on hover and in the rung details
    tuned = report.state.results["fine_tune"].model
    assert f'<td title="{tuned}">{demo.out.name}/model + LoRA (ftjob-…' in html
    assert f"<li>model <code>{tuned}</code></li>" in html


@pytest.mark.slow
def test_the_written_ladder_config_is_hybrid_offline_and_reloadable(demo: DemoOutcome) -> None:
    raw = tomllib.loads(demo.config.read_text(encoding="utf-8"))
    assert raw["retrieval"]["retriever"] == "hybrid"
    assert raw["retrieval"]["embedder"].startswith("sentence-transformers:")
    assert raw["budget"]["max_dollars"] == 10.0  # a local model is priced by its compute time: the budget holds
    assert raw["options"] == {"temperature": 0, "max_tokens": QUICK.max_tokens}  # greedy, sized to the answers
    config = load_ladder_config(demo.config, out=demo.ladder_out)
    assert config.models.base == config.fine_tune_base == config.optimizer_model == demo.model
    assert config.dataset.test.read_text(encoding="utf-8").count("\n") == QUICK.test_cases
    # the hybrid index was built once in the ladder folder (embedded Chroma + BM25)
    assert (demo.ladder_out / "index").is_dir()


@pytest.mark.slow
def test_a_second_run_reuses_everything_and_the_cli_reprints_the_result(demo: DemoOutcome) -> None:
    before = {rung: r.mean for rung, r in demo.outcome.state.results.items()}
    job = demo.outcome.state.fine_tune.job_id if demo.outcome.state.fine_tune else None
    model_files = sorted((p.name, p.stat().st_mtime_ns) for p in (demo.out / "model").iterdir())
    result = CliRunner().invoke(
        app, ["demo", "support-bot", "--quick", "--no-progress", "--example", str(EXAMPLE), "--out", str(demo.out)]
    )
    assert result.exit_code == 0, result.output
    assert TINY_NOTICE in " ".join(result.output.split())
    assert "--model openai:gpt-4o-mini" in result.output and "--model ollama:llama3.2" in result.output
    assert str(demo.report_html) in result.output.replace("\n", "")
    state = json.loads((demo.ladder_out / "state.json").read_text(encoding="utf-8"))
    assert {rung: r["mean"] for rung, r in state["results"].items()} == before
    assert state["fine_tune"]["job_id"] == job and not state["fine_tune"].get("previous_jobs")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (demo.out / "model").iterdir()) == model_files


def test_without_the_example_the_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_example()
    assert "examples/support-bot/ladder.toml" in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["demo", "support-bot", "--example", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "no ladder.toml" in str(result.exception)


def test_a_broken_training_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "a.md").write_text("# Refunds\n\nThirty days.\n\nFull refund.", encoding="utf-8")
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.jsonl:2: messages"):
        corpus(tmp_path, train)
    train.write_text(
        '{"messages": [{"role": "user", "content": "Refund?"}, {"role": "assistant", "content": "Yes."}]}\n'
    )
    assert corpus(tmp_path, train) == ["# Refunds", "Thirty days.", "Full refund.", "Refund?", "Yes."]


def test_find_example_walks_up_from_a_subfolder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE / "kb")
    assert find_example() == EXAMPLE


@pytest.mark.slow
@pytest.mark.anyio
async def test_strategy_configs_name_the_packaged_minilm_embedder() -> None:
    from tunewise.strategies._factory import BuildContext

    embedder = BuildContext().embedder("sentence-transformers:all-MiniLM-L6-v2", "ladder.toml: retrieval.embedder")
    vectors = await embedder.embed(["How do I reset my password?", "password reset link"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    assert sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True)) > 0.5

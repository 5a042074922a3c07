"""The ladder end to end on the scripted provider: the right rung is chosen, budgets stop it, it resumes."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import ladder_world as world  # tests/ladder_world.py: tests/conftest.py puts the folder on sys.path
import pytest

from tunewise import ConfigError
from tunewise.costs import UnknownPriceWarning
from tunewise.evaluation import RunStore
from tunewise.ladder import build_ladder_report, load_ladder_config, parse_candidates, run_ladder


@pytest.mark.anyio
async def test_prompting_fails_and_the_fine_tune_is_chosen(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    script = world.World()
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    events: list[str] = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        outcome = await run_ladder(config, providers={"scripted": provider}, on_event=events.append)
    state = outcome.state
    assert list(state.results) == ["zero_shot", "few_shot", "optimized_prompt", "fine_tune"]
    for rung in ("zero_shot", "few_shot", "optimized_prompt"):
        assert state.results[rung].status == "below_target"
        assert state.results[rung].mean == 0.0
    tuned = state.results["fine_tune"]
    assert tuned.status == "passed" and tuned.mean == 1.0 and tuned.ci_low >= 0.8
    assert tuned.model.startswith("scripted:ft:base:ladder:ftjob-0001")
    assert state.skipped == {"rag_fine_tuned": "the target was reached at fine_tune"}
    # the instruction search really ran: the writer was asked twice, candidates were scored on dev
    assert script.calls.count("writer") == 2
    assert len(state.candidates) == 5 and all(c.dev_score is not None for c in state.candidates)
    assert state.results["optimized_prompt"].system_prompt in [c.instruction for c in state.candidates]
    # no written instruction beat the starting one: its test answers are few_shot's, reused, not paid twice
    optimized = state.results["optimized_prompt"]
    assert optimized.system_prompt == state.candidates[0].instruction
    assert optimized.run_id == state.results["few_shot"].run_id and any("reused" in n for n in optimized.notes)
    # the fine-tune was trained on the train split, in chat format
    rows = [json.loads(line) for line in (outcome.out / "fine_tune_train.jsonl").read_text().splitlines()]
    assert len(rows) == 24 and rows[0]["messages"][-1] == {"role": "assistant", "content": "code-0"}
    rec = outcome.recommendation()
    assert rec.chosen == "fine_tune" and rec.reached_target
    assert any("fine_tune is the cheapest rung" in r for r in rec.reasons)
    # scripted models have no price: unknown, never zero
    assert rec.costs["fine_tune"].per_1k_requests is None
    assert state.spent is None and "scripted:base" in state.unknown_prices
    md = (outcome.out / "report.md").read_text()
    assert "use **fine_tune**" in md and "| unknown |" in md
    html = (outcome.out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<script" not in html


@pytest.mark.anyio
async def test_when_the_fine_tune_needs_the_knowledge_base_rag_plus_fine_tune_is_chosen(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    script = world.World(needs_context=True)
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    assert state.results["fine_tune"].status == "below_target" and state.results["fine_tune"].mean == 0.0
    rag = state.results["rag_fine_tuned"]
    assert rag.status == "passed" and rag.mean == 1.0
    assert rag.model == state.results["fine_tune"].model  # the same trained model, now grounded
    assert outcome.recommendation().chosen == "rag_fine_tuned" and state.skipped == {}
    assert len(json.loads((tmp_path / "jobs.json").read_text())) == 1  # one job serves both rungs


@pytest.mark.anyio
async def test_stop_at_target_false_measures_every_rung_and_still_recommends_the_cheapest(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    script = world.World()
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = await run_ladder(config, providers={"scripted": provider})
        assert first.state.skipped == {"rag_fine_tuned": "the target was reached at fine_tune"}
        calls = len(script.calls)
        # the same ladder, now told to climb on: the finished rungs are reused, only the rest runs
        config.write_text("stop_at_target = false\n" + config.read_text())
        outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    assert list(state.results) == ["zero_shot", "few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"]
    assert state.skipped == {} and set(script.calls[calls:]) == {"ft"}
    rec = outcome.recommendation()
    assert rec.chosen == "fine_tune"  # the cheapest rung that passed
    assert any(r.startswith("rag_fine_tuned also reached the target") for r in rec.reasons), rec.reasons
    assert not any(r.startswith("rag_fine_tuned stayed below") for r in rec.reasons)


@pytest.mark.anyio
async def test_when_retrieval_is_enough_the_rag_rung_is_chosen_before_any_fine_tune(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    text = config.read_text().replace('"optimized_prompt", "fine_tune"', '"optimized_prompt", "rag", "fine_tune"')
    config.write_text(text)
    script = world.World(base_reads_context=True)
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    assert list(state.results) == ["zero_shot", "few_shot", "optimized_prompt", "rag"]
    rag = state.results["rag"]
    assert rag.status == "passed" and rag.mean == 1.0 and rag.model == "scripted:base"  # the base model, grounded
    assert state.skipped == {r: "the target was reached at rag" for r in ("fine_tune", "rag_fine_tuned")}
    assert "ft" not in script.calls and not (tmp_path / "jobs.json").exists()  # no training was paid for
    assert outcome.recommendation().chosen == "rag"
    no_kb = world.write_world(tmp_path / "no-kb")
    no_kb.write_text(
        no_kb.read_text()
        .replace('knowledge_base = "kb"', "")
        .replace('"optimized_prompt", "fine_tune"', '"optimized_prompt", "rag", "fine_tune"')
        .replace(', "rag_fine_tuned"', "")
    )
    with pytest.raises(ConfigError, match="the rag rung needs a knowledge base"):
        load_ladder_config(no_kb)


@pytest.mark.anyio
async def test_a_known_price_gives_costs_and_break_even(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = {
        "scripted:base": {
            "input": 0.15,
            "output": 0.6,
            "finetune_training": 3.0,
            "finetune_input": 0.3,
            "finetune_output": 1.2,
        },
        "scripted:writer": {"input": 2.5, "output": 10.0},
    }
    monkeypatch.setenv("TUNEWISE_PRICES", json.dumps(prices))
    config = world.write_world(tmp_path)
    provider = world.WorldProvider(world.World(), tmp_path / "jobs.json")
    outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    assert state.spent is not None and state.spent > 0 and not state.unknown_prices
    rec = outcome.recommendation()
    zero = rec.costs["zero_shot"]
    result = state.results["zero_shot"]
    assert result.prompt_tokens is not None and result.completion_tokens is not None
    expected = (result.prompt_tokens * 0.15 + result.completion_tokens * 0.6) / 1e6
    assert zero.per_request == pytest.approx(expected)
    assert zero.per_month == pytest.approx(expected * 100_000)
    tuned = state.results["fine_tune"]
    assert tuned.training_cost == pytest.approx(state.fine_tune.training_tokens * 2 * 3.0 / 1e6)
    assert rec.break_even is not None and rec.break_even.requests_per_month == 100_000
    assert "fine_tune" in (rec.break_even_note or "")
    report = build_ladder_report(outcome.out)
    assert rec.break_even.summary() in report.markdown()


@pytest.mark.anyio
async def test_the_budget_stops_before_a_rung_that_would_exceed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "TUNEWISE_PRICES",
        json.dumps(
            {
                "scripted:*": {
                    "input": 1000.0,
                    "output": 1000.0,
                    "finetune_training": 10.0,
                    "finetune_input": 1000.0,
                    "finetune_output": 1000.0,
                }
            }
        ),
    )
    config = world.write_world(tmp_path, extra="")
    text = config.read_text() + "\n[budget]\nmax_dollars = 1.0\n"
    config.write_text(text)
    script = world.World()
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    assert list(state.results) == ["zero_shot"]
    assert state.stopped is not None and state.stopped.startswith("budget: few_shot is estimated at $")
    assert set(state.skipped) == {"few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"}
    assert script.calls == ["base"] * 20  # few-shot never sent a request
    assert not (tmp_path / "jobs.json").exists()
    rec = outcome.recommendation()
    assert not rec.reached_target and any("Raise the budget" in s for s in rec.next_steps)

    # a bigger budget resumes: zero-shot is not run again
    config.write_text(text.replace("max_dollars = 1.0", "max_dollars = 50.0"))
    outcome = await run_ladder(config, providers={"scripted": provider})
    assert outcome.state.stopped is None, outcome.state.stopped
    assert outcome.state.results["fine_tune"].status == "passed"
    assert script.calls[:20] == ["base"] * 20 and len(script.calls) > 20
    assert sum(1 for _ in json.loads((tmp_path / "jobs.json").read_text())) == 1


@pytest.mark.anyio
async def test_a_token_budget_stops_too(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    config.write_text(config.read_text() + "\n[budget]\nmax_tokens = 400\n")
    provider = world.WorldProvider(world.World(), tmp_path / "jobs.json")
    outcome = await run_ladder(config, providers={"scripted": provider})
    assert outcome.state.results == {}
    assert outcome.state.stopped is not None and "400-token budget" in outcome.state.stopped


def test_optimizer_answers_are_parsed_without_repeats() -> None:
    text = (
        "<instruction>Be brief.</instruction> <instruction> be   BRIEF. </instruction><instruction>Cite.</instruction>"
    )
    assert parse_candidates(text, n=5, seen=["Cite."]) == ["Be brief."]
    assert parse_candidates("1. Answer with the code only\n2. Always give the item code", n=1) == [
        "Answer with the code only"
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("threshold = 0.8", 'threshold = "high"', "ladder.toml: target.threshold: Input should be a valid number"),
        ('base = "scripted:base"', 'base = "gpt-4o"', "ladder.toml: models.base: model reference 'gpt-4o' has no"),
        ('test = "test.jsonl"', 'test = "missing.jsonl"', "ladder.toml: dataset.test: no such file"),
        ("concurrency = 4", "concurency = 4", "ladder.toml: concurency: unknown key"),
        ('"fine_tune", "rag_fine_tuned"]', '"rag_fine_tuned", "fine_tune"]', "ladder.toml: rungs: rungs climb"),
        ('"fine_tune", "rag_fine_tuned"]', '"rag_fine_tuned"]', "rag_fine_tuned uses the fine_tune rung"),
        ('knowledge_base = "kb"', 'knowledge_base = "nowhere"', "retrieval.knowledge_base: no such file or folder"),
        (
            'knowledge_base = "kb"',
            'knowledge_base = "kb"\nretriever = "hybrid"\nthreshold_on = "cosine"',
            "ladder.toml: retrieval.threshold_on: 'cosine' is not a retriever of 'hybrid'; use dense or bm25",
        ),
        ('metric = "exact_match"', 'metric = "exactish"', "ladder.toml: target.metric:"),
        ("[dataset]", "[dataset]\nextra = 1", "ladder.toml: dataset.extra: unknown key"),
        (
            "concurrency = 4",
            "options = {temprature = 0}",
            "ladder.toml: options: unknown request options ['temprature']",
        ),
        ("concurrency = 4", "options = {temperature = 5}", "ladder.toml: options: request option temperature:"),
    ],
)
def test_config_errors_are_one_line_naming_file_and_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    config = world.write_world(tmp_path)
    config.write_text(config.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_ladder_config(config)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_ladder_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("rungs = [")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_ladder_config(bad)


def test_model_override_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = world.write_world(tmp_path / "project")
    parsed = load_ladder_config(config, model="openai:gpt-4o-mini", out=tmp_path / "elsewhere")
    assert parsed.models.base == parsed.fine_tune_base == "openai:gpt-4o-mini"
    assert parsed.optimizer_model == "scripted:writer"
    assert parsed.dataset.train == (tmp_path / "project" / "train.jsonl").resolve()
    assert parsed.out == (tmp_path / "elsewhere").resolve()
    assert load_ladder_config(config).out == (tmp_path / "project" / "ladder-out").resolve()


@pytest.mark.anyio
async def test_a_changed_config_does_not_mix_with_an_old_output_folder(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    provider = world.WorldProvider(world.World(), tmp_path / "jobs.json")
    config.write_text(config.read_text().replace("rungs = [", 'rungs = ["zero_shot"]\n#'))
    with pytest.warns(UnknownPriceWarning, match="scripted:base") as said:
        await run_ladder(config, providers={"scripted": provider})
    assert len([w for w in said if "scripted:base" in str(w.message)]) == 1  # once per model, not once per call
    config.write_text(config.read_text().replace("threshold = 0.8", "threshold = 0.5"))
    with pytest.raises(ConfigError, match="different config"):
        await run_ladder(config, providers={"scripted": provider})


def test_the_support_bot_ladder_is_valid_and_its_whole_climb_fits_its_budget(tmp_path: Path) -> None:
    from tunewise.ladder import Ladder

    example = Path(__file__).resolve().parents[1] / "examples" / "support-bot" / "ladder.toml"
    config = load_ladder_config(example, out=tmp_path / "out")
    assert config.system_prompt and config.retrieval.knowledge_base is not None
    # hybrid retrieval, its relevance threshold on the dense cosine (calibrated on dev in docs/guides/support-bot.md)
    assert (config.retrieval.retriever, config.retrieval.threshold_on, config.retrieval.threshold) == (
        "hybrid",
        "dense",
        0.30,
    )
    ladder = Ladder(config)
    assert (len(ladder.train), len(ladder.dev), len(ladder.test)) == (174, 20, 65)
    estimates = {rung: ladder.estimate(rung) for rung in config.rungs}
    assert all(e.dollars is not None and e.dollars > 0 for e in estimates.values()), estimates
    assert config.budget.max_dollars is not None
    assert sum(e.dollars or 0 for e in estimates.values()) < config.budget.max_dollars
    # the fine-tune is the expensive step: training dominates its estimate
    assert (estimates["fine_tune"].dollars or 0) > (estimates["zero_shot"].dollars or 0) * 5


@pytest.mark.anyio
async def test_an_interrupted_instruction_search_resumes_without_rewriting_or_rescoring(tmp_path: Path) -> None:
    from tunewise import BadRequestError

    config = world.write_world(tmp_path)
    script = world.World()

    def failing_second_round(request: world.ChatRequest) -> str:  # type: ignore[name-defined]
        if world.OPTIMIZER_MARK in (request.messages[0].content or "") and script.calls.count("writer") == 1:
            raise BadRequestError("the optimizer model went away", provider="scripted")
        return str(script(request))

    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    provider._handler = failing_second_round
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadRequestError):
            await run_ladder(config, providers={"scripted": provider})
        first = list(script.calls)
        state = json.loads((tmp_path / "ladder-out" / "state.json").read_text())
        assert set(state["results"]) == {"zero_shot", "few_shot"}
        assert [c["round"] for c in state["candidates"]] == [0, 1, 1]  # round 1 written and scored, round 2 not
        assert all(c["dev_score"] is not None for c in state["candidates"])

        resumed = world.World(first_round=2)
        again = world.WorldProvider(resumed, tmp_path / "jobs.json")
        outcome = await run_ladder(config, providers={"scripted": again})
    assert first.count("writer") == 1
    assert resumed.calls.count("writer") == 1  # only round 2 is written
    # base calls: 2 new candidates x 8 dev cases, then 20 test cases; nothing of round 0/1 again
    assert resumed.calls.count("base") == 2 * 8  # round 2 scored on dev; the starting instruction won: test reused
    assert outcome.recommendation().chosen == "fine_tune"


@pytest.mark.parametrize(
    "embedder", ["hashing", pytest.param("sentence-transformers:all-MiniLM-L6-v2", marks=pytest.mark.slow)]
)
@pytest.mark.anyio
async def test_rag_rung_on_a_hybrid_index_of_the_knowledge_base(tmp_path: Path, embedder: str) -> None:
    config = world.write_world(tmp_path)
    config.write_text(
        config.read_text().replace(
            'knowledge_base = "kb"', f'knowledge_base = "kb"\nretriever = "hybrid"\nembedder = "{embedder}"'
        )
    )
    provider = world.WorldProvider(world.World(needs_context=True), tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    assert outcome.recommendation().chosen == "rag_fine_tuned"
    assert (outcome.out / "index").is_dir()  # Chroma + BM25 built in the output folder


def test_an_unknown_retriever_name_is_a_config_error(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    config.write_text(
        config.read_text().replace('knowledge_base = "kb"', 'knowledge_base = "kb"\nretriever = "vector"')
    )
    with pytest.raises(ConfigError, match=r"ladder\.toml: retrieval\.retriever"):
        load_ladder_config(config)


@pytest.mark.anyio
async def test_a_failed_fine_tune_is_reported_and_the_next_run_starts_a_new_job(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    script = world.World()
    failing = world.WorldProvider(script, tmp_path / "jobs.json", failing=("ftjob-0001",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": failing})
        state = outcome.state
        assert "fine_tune" not in state.results
        assert state.skipped["fine_tune"].startswith("the fine-tune failed: job ftjob-0001 failed: training diverged")
        assert state.skipped["rag_fine_tuned"] == "the fine-tune rung did not produce a model"
        assert state.fine_tune is not None and state.fine_tune.status == "failed"
        rec = outcome.recommendation()
        assert rec.chosen is None and any("fine_tune was not run: the fine-tune failed" in r for r in rec.reasons)

        calls = len(script.calls)
        outcome = await run_ladder(config, providers={"scripted": world.WorldProvider(script, tmp_path / "jobs.json")})
    assert outcome.state.fine_tune is not None
    assert outcome.state.fine_tune.job_id == "ftjob-0002" and outcome.state.fine_tune.previous_jobs == ["ftjob-0001"]
    assert outcome.recommendation().chosen == "fine_tune"
    assert set(script.calls[calls:]) == {"ft"}  # the prompt rungs were not run again


@pytest.mark.anyio
async def test_one_file_is_split_by_the_data_toolkit(tmp_path: Path) -> None:
    config = world.write_world(tmp_path, train=30, dev=10, test=10)
    rows = "".join((tmp_path / f"{name}.jsonl").read_text() for name in ("train", "dev", "test"))
    (tmp_path / "all.jsonl").write_text(rows)
    text = config.read_text().replace(
        'train = "train.jsonl"\ndev = "dev.jsonl"\ntest = "test.jsonl"',
        'file = "all.jsonl"\nsplit = {train = 0.6, dev = 0.2, test = 0.2}\nseed = 7',
    )
    config.write_text(text.replace("rungs = [", 'rungs = ["zero_shot", "fine_tune"]\n#'))
    provider = world.WorldProvider(world.World(), tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    splits = {
        name: (outcome.out / "splits" / f"{name}.jsonl").read_text().splitlines() for name in ("train", "dev", "test")
    }
    assert {name: len(lines) for name, lines in splits.items()} == {"train": 30, "dev": 10, "test": 10}
    assert sorted(line for lines in splits.values() for line in lines) == sorted(
        rows.splitlines()
    )  # every example in exactly one split
    assert outcome.state.results["fine_tune"].n == 10
    assert outcome.state.fine_tune is not None and outcome.state.fine_tune.training_tokens > 0


@pytest.mark.anyio
async def test_a_training_split_too_small_to_fine_tune_is_refused_before_any_job(tmp_path: Path) -> None:
    from tunewise import DataError

    config = world.write_world(tmp_path, train=5)
    provider = world.WorldProvider(world.World(), tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"train\.jsonl: the training split cannot be used for fine-tuning: .*10"):
            await run_ladder(config, providers={"scripted": provider})
    assert not (tmp_path / "jobs.json").exists()
    state = json.loads((tmp_path / "ladder-out" / "state.json").read_text())
    assert set(state["results"]) == {"zero_shot", "few_shot", "optimized_prompt"}  # kept for the next run


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ('train = "train.jsonl"\ndev = "dev.jsonl"', "dataset: needs train, dev and test (missing: test)"),
        ('file = "train.jsonl"\ntrain = "train.jsonl"', "give file (split by the ladder) or train, dev and test"),
        ('file = "train.jsonl"\nsplit = {train = 0.5, dev = 0.1, test = 0.1}', "split fractions must add up to 1"),
        ('file = "nope.jsonl"', "dataset.file: no such file"),
    ],
)
def test_dataset_forms(tmp_path: Path, dataset: str, message: str) -> None:
    config = world.write_world(tmp_path)
    config.write_text(
        config.read_text().replace('train = "train.jsonl"\ndev = "dev.jsonl"\ntest = "test.jsonl"', dataset)
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_ladder_config(config)


@pytest.mark.anyio
async def test_request_options_go_with_every_answer_but_not_to_the_optimizer(tmp_path: Path) -> None:
    config = world.write_world(tmp_path, extra="options = {temperature = 0, max_tokens = 12, seed = 3}")
    script = world.World()
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await run_ladder(config, providers={"scripted": provider})
    answers = [r for r in provider.requests if world.OPTIMIZER_MARK not in (r.messages[0].content or "")]
    writers = [r for r in provider.requests if world.OPTIMIZER_MARK in (r.messages[0].content or "")]
    assert answers and all((r.temperature, r.max_tokens, r.seed) == (0, 12, 3) for r in answers)
    assert writers and all(r.temperature == 0.9 and r.max_tokens is None for r in writers)


def kind_of(i: int) -> dict[str, object]:
    """Every third test case needs the knowledge base (kb, with its key fact); the rest are style cases."""
    if i % 3 == 0:
        return {"kind": "kb", "must_contain": [world.answer(i)]}
    return {"kind": "style"}  # no key facts: must_contain does not apply


class KindWorld(world.World):
    """The fine-tuned model knows the style cases by heart but the kb facts only from retrieved passages,
    and the retrieved passages throw it off the style cases."""

    def __init__(self, kb: Callable[[int], bool] = lambda i: i % 3 == 0) -> None:
        super().__init__()
        self.kb = kb

    def __call__(self, request: object) -> str:
        from tunewise import ChatRequest

        assert isinstance(request, ChatRequest)
        if not request.model.startswith("ft:"):
            return super().__call__(request)
        self.calls.append("ft")
        text = " ".join(m.content or "" for m in request.messages)
        user = [m.content or "" for m in request.messages if m.role == "user"][-1]
        i = next(int(w) for w in user.replace("?", " ").split() if w.isdigit())
        grounded = "seven times the item number" in text
        if self.kb(i):
            return world.answer(i) if grounded else "unknown"
        return "See the sources." if grounded else world.answer(i)


REPORT = '\n[report]\nmetrics = ["must_contain"]\ngroup_by = "kind"\n'


@pytest.mark.anyio
async def test_the_report_shows_every_rung_per_kind_with_must_contain(tmp_path: Path) -> None:
    config = world.write_world(tmp_path, test=30, extra=REPORT, metadata=kind_of)
    script = KindWorld()
    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    state = outcome.state
    tuned, rag = state.results["fine_tune"], state.results["rag_fine_tuned"]
    # overall neither reaches 0.8; per kind each is perfect on one kind and useless on the other
    assert (tuned.mean, rag.mean) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert tuned.group_by == "kind" and list(tuned.groups) == ["style", "kb"]
    assert (tuned.groups["kb"].n, tuned.groups["style"].n) == (10, 20)
    assert tuned.groups["kb"].metrics["exact_match"].mean == 0.0 and rag.groups["kb"].metrics["exact_match"].mean == 1
    assert tuned.groups["style"].metrics["exact_match"].mean == 1.0
    # must_contain: scored on the 10 kb cases only, overall and per kind; not applicable to style cases
    assert tuned.metrics["must_contain"].n == 10 and tuned.metrics["must_contain"].mean == 0.0
    assert rag.metrics["must_contain"].mean == 1.0
    assert "must_contain" in tuned.groups["kb"].metrics and "must_contain" not in tuned.groups["style"].metrics
    assert tuned.n == 30 and not any("does not apply" in note for note in tuned.notes)
    # the candidates' dev runs score only the target: extra metrics cost nothing there
    with RunStore(outcome.out / "runs.sqlite") as store:
        metrics = {run.run_id: [m["name"] for m in run.config["metrics"]] for run in store.runs()}
    assert metrics["ladder-fine_tune"] == ["exact_match", "must_contain"]
    assert all(names == ["exact_match"] for run_id, names in metrics.items() if run_id.startswith("ladder-dev-"))
    rec = outcome.recommendation()
    assert rec.chosen is None and rec.best == "fine_tune"
    assert (
        "By kind: fine_tune falls short on kb (exact_match 0.00 over 10 cases, must_contain 0.00; target 0.8), "
        "where rag_fine_tuned scores 1.00." in rec.reasons
    )
    md = (outcome.out / "report.md").read_text()
    assert "| rung | model | exact_match | CI | status | must_contain |" in md
    assert "## By kind" in md and "### exact_match (the target)" in md and "### must_contain" in md
    assert "| kind | cases | zero_shot | few_shot | optimized_prompt | fine_tune | rag_fine_tuned |" in md
    assert "| kb | 10 | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | 0.000 [0.000, 0.000] | 0.000" in md
    assert md.count("| style | 20 | n/a | n/a | n/a | n/a | n/a |") == 1  # must_contain does not apply to style
    html = (outcome.out / "report.html").read_text()
    assert "<h2>By kind</h2>" in html and 'class="weak"' in html
    # changing group_by re-groups the stored answers: no model call, same measurements
    calls = len(script.calls)
    config.write_text(config.read_text().replace('group_by = "kind"\n', ""))
    again = await run_ladder(config, providers={"scripted": provider})
    assert len(script.calls) == calls
    assert again.state.results["fine_tune"].groups == {} and again.state.results["fine_tune"].mean == tuned.mean
    assert again.state.results["fine_tune"].metrics == tuned.metrics
    assert "## By kind" not in (outcome.out / "report.md").read_text()


@pytest.mark.parametrize(
    ("report", "message"),
    [
        ('group_by = "knid"', r"report.group_by: no test case has metadata.knid \(keys found: kind, must_contain\)"),
        ('metrics = ["bleu"]', r"report.metrics\[0\]: metric 'bleu': type must be one of"),
        ('metrics = ["exact_match"]', r"report.metrics\[0\]: a metric named 'exact_match' is already measured"),
        ("group_by = 3", r"report.group_by: Input should be a valid string"),
    ],
)
def test_report_config_errors_are_one_line(tmp_path: Path, report: str, message: str) -> None:
    from tunewise.ladder import Ladder

    config = world.write_world(tmp_path, extra=f"\n[report]\n{report}\n", metadata=kind_of)
    with pytest.raises(ConfigError, match=r"ladder.toml: " + message) as info:
        Ladder(load_ladder_config(config))
    assert "\n" not in str(info.value)


@pytest.mark.anyio
async def test_a_chosen_rung_weak_on_a_small_kind_is_flagged_as_a_hint(tmp_path: Path) -> None:
    def rare_kb(i: int) -> dict[str, object]:
        return {"kind": "kb"} if i % 10 == 0 else {"kind": "style"}

    config = world.write_world(tmp_path, extra=REPORT.replace('metrics = ["must_contain"]\n', ""), metadata=rare_kb)
    config.write_text(config.read_text().replace("threshold = 0.8", "threshold = 0.7"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(
            config, providers={"scripted": world.WorldProvider(KindWorld(lambda i: i % 10 == 0), tmp_path / "j")}
        )
    rec = outcome.recommendation()
    assert rec.chosen == "fine_tune" and outcome.state.results["fine_tune"].mean == pytest.approx(0.9)
    assert rec.reasons[1] == (
        "By kind: fine_tune falls short on kb (exact_match 0.00 over 2 cases; target 0.7); "
        "with 2 cases this is a hint, not a finding."
    )
    assert "| kb | 2 (small) |" in (outcome.out / "report.md").read_text()

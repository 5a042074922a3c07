"""Metrics on known answers, LLM-as-judge through a scripted judge, and custom Python metrics."""

from __future__ import annotations

import re

import pytest

from tunewise import ChatRequest, ChatResponse, ConfigError, Model, ModelRef
from tunewise.evaluation import (
    Case,
    Contains,
    EmbeddingCosine,
    ExactMatch,
    FunctionMetric,
    JsonSchemaValid,
    LLMJudge,
    MustContain,
    PairwiseJudge,
    RegexMatch,
    Score,
    TokenF1,
    as_metric,
    normalize,
    token_f1,
)
from tunewise.interfaces.strategy import Answer
from tunewise.testing import HashingEmbedder, ScriptedProvider

CASE = Case.of("Who wrote Hamlet?", "William Shakespeare", id="q1")


def answer(text: str) -> Answer:
    request = ChatRequest(model="m", messages=({"role": "user", "content": "q"},))  # type: ignore[arg-type]
    return Answer(strategy="s", response=ChatResponse(text=text, model="m"), requests=(request,))


async def value(metric: object, text: str, case: Case = CASE) -> float | None:
    return (await as_metric(metric).score(case, answer(text))).value  # type: ignore[arg-type]


def test_normalize_and_token_f1_known_answers() -> None:
    assert normalize("  The  Answer, is: 'Paris'! ") == "answer is paris"
    assert token_f1("Paris", "Paris") == 1.0
    assert token_f1("the capital is Paris", "Paris") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert token_f1("London", "Paris") == 0.0
    assert token_f1("", "") == 1.0


@pytest.mark.anyio
async def test_deterministic_metrics() -> None:
    assert await value(ExactMatch(), "william shakespeare.") == 1.0
    assert await value(ExactMatch(normalized=False), "william shakespeare.") == 0.0
    assert await value("contains", "It was William Shakespeare, in 1600.") == 1.0
    assert await value(Contains("marlowe"), "Shakespeare") == 0.0
    assert await value(RegexMatch(r"\bshakespeare\b"), "Shakespeare did") == 1.0
    assert await value(RegexMatch(r"^{reference}$"), "William Shakespeare") == 1.0
    assert await value(TokenF1(), "Shakespeare") == pytest.approx(2 / 3)
    with pytest.raises(ConfigError, match="needs a reference answer"):
        await value(ExactMatch(), "x", Case.of("q", id="no-ref"))


@pytest.mark.anyio
async def test_json_schema_validity() -> None:
    schema = {
        "type": "object",
        "properties": {"intent": {"enum": ["refund", "shipping"]}, "urgent": {"type": "boolean"}},
        "required": ["intent", "urgent"],
    }
    metric = JsonSchemaValid(schema)
    assert (await metric.score(CASE, answer('{"intent": "refund", "urgent": false}'))).value == 1.0
    assert (await metric.score(CASE, answer('```json\n{"intent": "refund", "urgent": true}\n```'))).value == 1.0
    bad = await metric.score(CASE, answer('{"intent": "cancel", "urgent": false}'))
    assert bad.value == 0.0 and bad.detail is not None and bad.detail.startswith("intent: 'cancel' is not one of")
    not_json = await metric.score(CASE, answer("refund please"))
    assert not_json.value == 0.0 and (not_json.detail or "").startswith("not JSON")
    per_case = Case.of("q", id="c", schema={"type": "array"})
    assert await value(JsonSchemaValid(), "[1, 2]", per_case) == 1.0
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        JsonSchemaValid({"type": "not-a-type"})


@pytest.mark.anyio
async def test_embedding_cosine_with_any_embedder() -> None:
    metric = EmbeddingCosine(HashingEmbedder(256))
    assert await value(metric, "William Shakespeare") == pytest.approx(1.0)
    assert await value(metric, "zebra") == pytest.approx(0.0)
    partial = await value(metric, "Shakespeare")
    assert 0.5 < partial < 1.0
    assert EmbeddingCosine(HashingEmbedder(), threshold=0.5).binary


@pytest.mark.anyio
async def test_python_functions_are_metrics() -> None:
    def short(answer: str, case: Case) -> bool:
        return len(answer) < 20

    async def ratio(answer: str, case: Case) -> float:
        return min(1.0, len(answer) / 40)

    assert FunctionMetric(short).binary and not FunctionMetric(ratio).binary
    assert await value(short, "Shakespeare") == 1.0
    assert await value(ratio, "x" * 20) == 0.5
    assert await value(lambda a, c: Score(value=0.25), "x") == 0.25
    with pytest.raises(ValueError, match="outside"):
        await value(lambda a, c: 3, "x")
    metric = as_metric({"type": "python", "function": "tunewise.evaluation:token_f1", "name": "f1"})
    assert metric.name == "f1"
    with pytest.raises(ConfigError, match="type must be one of"):
        as_metric("bleu")
    with pytest.raises(ConfigError, match="metric 'regex'"):
        as_metric({"type": "regex", "pattern": "("})


LUMEN = Case.of(
    "How long is the reset link valid?",
    "Hi there! It works for 60 minutes.\n\n— Lumen Support",
    id="t001",
    kind="kb",
    must_contain=["60 minutes", "Settings -> Account -> Security", "— Lumen Support"],
)


@pytest.mark.anyio
async def test_must_contain_checks_every_key_phrase_and_names_the_missing_ones() -> None:
    good = "Hi there! Open SETTINGS -> Account -> Security; the link works for 60\nminutes.\n\n— Lumen Support"
    assert await value("must_contain", good, LUMEN) == 1.0  # case and line breaks do not matter
    metric = as_metric({"type": "must_contain"})
    assert metric.name == "must_contain" and metric.binary
    missed = await metric.score(LUMEN, answer("The link works for 60 minutes. - Lumen Support"))
    assert missed.value == 0.0
    assert missed.detail == "missing: 'Settings -> Account -> Security'; '— Lumen Support'"
    # any: one phrase is enough
    assert await value({"type": "must_contain", "mode": "any"}, "It is 60 minutes.", LUMEN) == 1.0
    none = await as_metric({"type": "must_contain", "mode": "any"}).score(LUMEN, answer("No idea."))
    assert none.value == 0.0 and none.detail is not None and none.detail.startswith("none of: '60 minutes'")
    # fraction: the share of phrases found, a graded score (the greeting and sign-off without the menu path)
    share = as_metric({"type": "must_contain", "mode": "fraction", "name": "key_phrases"})
    assert share.name == "key_phrases" and not share.binary
    partial = await share.score(LUMEN, answer("Hi there! It is 60 minutes.\n\n— Lumen Support"))
    assert partial.value == pytest.approx(2 / 3) and partial.detail == "missing: 'Settings -> Account -> Security'"
    assert await value(share, good, LUMEN) == 1.0 and await value(share, "No idea.", LUMEN) == 0.0
    # case_sensitive, and word edges: a number inside a longer number is not the fact
    assert await value(MustContain(case_sensitive=True), good, LUMEN) == 0.0
    fact = Case.of("q", id="f", must_contain=["60 minutes", "$8", "10%"])
    assert await value("must_contain", "60 minutes, $8 a month, 10% off.", fact) == 1.0
    for wrong in ("160 minutes, $8, 10%", "60 minutes, $80, 10%", "60 minutes, $8, 110%"):
        assert await value("must_contain", wrong, fact) == 0.0, wrong


@pytest.mark.anyio
async def test_must_contain_normalize_forgives_punctuation_and_symbols() -> None:
    styled = "Hi there! Settings → Account → Security, 60 minutes.\n\n- Lumen Support"
    assert await value("must_contain", styled, LUMEN) == 0.0
    assert await value({"type": "must_contain", "normalize": True}, styled, LUMEN) == 1.0
    assert await value({"type": "must_contain", "normalize": True}, "Settings Account 60 minutes", LUMEN) == 0.0


@pytest.mark.anyio
async def test_must_contain_without_key_phrases_is_not_applicable_never_a_free_pass() -> None:
    for case in (CASE, Case.of("q", id="empty", must_contain=[]), Case.of("q", id="blank", must_contain=["  "])):
        score = await MustContain().score(case, answer("anything"))
        assert score.value is None and score.detail == "not applicable: no metadata.must_contain"
    # another key, and a single string instead of a list
    facts = Case.of("q", id="k", facts="Dublin")
    assert await value({"type": "must_contain", "key": "facts"}, "Lumen Labs is in Dublin.", facts) == 1.0
    with pytest.raises(ValueError, match=r"case .bad.: metadata\.must_contain must be a string or a list of strings"):
        await MustContain().score(Case.of("q", id="bad", must_contain=[3]), answer("x"))
    with pytest.raises(ConfigError, match="metric 'must_contain': mode must be 'all', 'any' or 'fraction', got 'most'"):
        as_metric({"type": "must_contain", "mode": "most"})
    # a Python function says "not applicable" with None
    assert await value(lambda a, c: None, "x") is None


def judge_model(provider: ScriptedProvider) -> Model:
    return Model(ModelRef(prefix="scripted", name="judge"), provider)


@pytest.mark.anyio
async def test_pointwise_judge_scores_on_its_scale_and_records_usage() -> None:
    def grade(request: ChatRequest) -> str:
        prompt = request.messages[-1].content or ""
        candidate = prompt.split("Candidate answer:\n")[1].split("\n\nRubric:")[0]
        return "Correct author.\nScore: 5" if "Shakespeare" in candidate else "Wrong.\nScore: 1"

    provider = ScriptedProvider(grade)
    judge = LLMJudge(judge_model(provider), rubric="Is the author right?")
    good = await judge.score(CASE, answer("Shakespeare"))
    assert good.value == 1.0 and good.usage is not None and good.model_ref == "scripted:judge"
    assert (await judge.score(CASE, answer("Marlowe"))).value == 0.0
    sent = provider.requests[0]
    assert sent.temperature == 0 and "Reference answer:\nWilliam Shakespeare" in (sent.messages[-1].content or "")
    passfail = LLMJudge(judge_model(ScriptedProvider(["Score: 4"])), pass_at=4)
    assert passfail.binary and (await passfail.score(CASE, answer("x"))).value == 1.0
    with pytest.raises(ValueError, match="no 'Score: N' line"):
        await LLMJudge(judge_model(ScriptedProvider(["I like it"]))).score(CASE, answer("x"))


@pytest.mark.anyio
async def test_pairwise_judge_swaps_positions_to_cancel_position_bias() -> None:
    def fair(request: ChatRequest) -> str:
        prompt = request.messages[-1].content or ""
        first = re.search(r"Answer 1:\n(.*)\n\nAnswer 2:", prompt, re.S)
        assert first is not None
        return "Winner: 1" if "Shakespeare" in first.group(1) else "Winner: 2"

    judge = PairwiseJudge(judge_model(ScriptedProvider(fair)))
    verdict = await judge.compare(CASE, "Marlowe", "Shakespeare")
    assert verdict.preference == 1 and verdict.consistent
    assert (verdict.first, verdict.swapped) == ("2", "1")
    assert verdict.usage.prompt_tokens is not None

    always_first = PairwiseJudge(judge_model(ScriptedProvider(lambda r: "Winner: 1")))
    biased = await always_first.compare(CASE, "Marlowe", "Shakespeare")
    assert biased.preference == 0 and not biased.consistent


@pytest.mark.anyio
async def test_judge_pairs_over_stored_runs(tmp_path: object) -> None:
    from pathlib import Path

    from tunewise.evaluation import RunStore, evaluate, judge_pairs
    from tunewise.strategies import SystemPrompt, ZeroShot

    def answerer(request: ChatRequest) -> str:
        return "Shakespeare" if request.messages[0].role == "system" else "Marlowe"

    def fair(request: ChatRequest) -> str:
        prompt = request.messages[-1].content or ""
        if "unreadable" in prompt:
            return "Both are fine."
        first = prompt.split("Answer 1:\n")[1].split("\n\nAnswer 2:")[0]
        return "Winner: 1" if "Shakespeare" in first else "Winner: 2"

    base = Model(ModelRef(prefix="scripted", name="m"), ScriptedProvider(answerer))
    cases = [Case.of(f"Who wrote play {i}?", "Shakespeare", id=f"c{i}") for i in range(12)]
    cases.append(Case.of("unreadable", "x", id="odd"))
    store_path = Path(str(tmp_path)) / "r.sqlite"
    await evaluate([ZeroShot(base, name="a"), SystemPrompt(base, "Be right.", name="b")], cases, store=store_path)
    with RunStore(store_path) as store:
        run_id = store.runs()[0].run_id
        summary = await judge_pairs(
            PairwiseJudge(judge_model(ScriptedProvider(fair))),
            store.results(run_id, "a"),
            store.results(run_id, "b"),
            a_name="a",
            b_name="b",
        )
    assert (summary.n, summary.b_wins, summary.a_wins, summary.invalid) == (13, 12, 0, 1)
    assert summary.verdict.startswith("judge prefers b in 100% of 12 decided pairs")

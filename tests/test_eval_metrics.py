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


async def value(metric: object, text: str, case: Case = CASE) -> float:
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

"""Strategies against the scripted provider: what each one sends, and what it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tunewise
from tunewise import ChatRequest, ConfigError, Message, Model, ModelRef, ProfileConfig, Registry, Settings
from tunewise.evaluation import Case
from tunewise.strategies import (
    RAG,
    ChainOfThought,
    FewShot,
    FineTuned,
    RagFineTuned,
    SystemPrompt,
    ZeroShot,
    build_strategy,
    extract_answer,
    load_strategies,
    mmr_select,
)
from tunewise.testing import HashingEmbedder, InMemoryRetriever, ScriptedProvider

DOCS = [
    {"id": "refund", "text": "Refunds are issued within 14 days of the return.", "source": "policy/refunds.md"},
    {"id": "ship", "text": "Shipping to Canada takes 5 to 7 business days.", "source": "policy/shipping.md"},
    {"id": "hours", "text": "Support is open Monday to Friday, 9 to 17.", "source": "support/hours.md"},
]


def model(provider: ScriptedProvider, name: str = "base") -> Model:
    return Model(ModelRef(prefix="scripted", name=name), provider)


def contents(request: ChatRequest) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in request.messages]


@pytest.mark.anyio
async def test_zero_shot_sends_the_conversation_unchanged_with_options() -> None:
    provider = ScriptedProvider(["Paris"])
    strategy = ZeroShot(model(provider), temperature=0, max_tokens=20)
    answer = await strategy.respond([Message.user("Capital of France?")])
    assert answer.text == "Paris"
    assert answer.strategy == "zero_shot:scripted:base"
    assert answer.requests == tuple(provider.requests)
    assert answer.requests[0].temperature == 0 and answer.requests[0].max_tokens == 20
    assert contents(answer.requests[0]) == [("user", "Capital of France?")]
    assert answer.usage.prompt_tokens is not None and answer.usage.prompt_tokens > 0
    (call,) = answer.calls
    assert call.model_ref == "scripted:base" and call.request == answer.requests[0]
    assert call.response == answer.response and not call.cached and call.cache_key is None


@pytest.mark.anyio
async def test_system_prompt_and_fine_tuned_put_their_system_message_first() -> None:
    provider = ScriptedProvider()
    answer = await SystemPrompt(model(provider), "Be brief.").respond("hello")
    assert contents(answer.requests[0]) == [("system", "Be brief."), ("user", "hello")]
    tuned = FineTuned(model(provider, "ft:base:acme:1"), system="You are Acme's bot.")
    answer = await tuned.respond([Message.system("ctx"), Message.user("hi")])
    assert answer.requests[0].model == "ft:base:acme:1"
    assert contents(answer.requests[0]) == [("system", "You are Acme's bot."), ("system", "ctx"), ("user", "hi")]
    with pytest.raises(ValueError, match="non-empty"):
        SystemPrompt(model(provider), "  ")


def test_answer_extraction() -> None:
    assert extract_answer("Step 1... so 3+4=7.\nAnswer: 7") == ("7", True)
    assert extract_answer("answer: 6\nwait, recheck.\nFinal answer: 7") == ("7", True)
    assert extract_answer("no marker here\n\n42\n") == ("42", False)
    assert extract_answer("The result is <<12>>.", r"<<(\d+)>>") == ("12", True)


@pytest.mark.anyio
async def test_chain_of_thought_records_reasoning_and_extracted_answer() -> None:
    provider = ScriptedProvider(["3 apples plus 4 apples is 7 apples.\nAnswer: 7"])
    answer = await ChainOfThought(model(provider)).respond("3 apples and 4 apples?")
    assert answer.text == "7"
    assert answer.metadata["reasoning"].startswith("3 apples plus")
    assert answer.metadata["extracted"] is True
    assert answer.responses[0].text.endswith("Answer: 7")
    system = answer.requests[0].messages[0]
    assert system.role == "system" and "Answer:" in (system.content or "")


def test_mmr_prefers_diverse_examples() -> None:
    import numpy as np

    query = np.array([1.0, 0.0])
    candidates = np.array([[1.0, 0.0], [0.99, 0.01], [0.7, 0.7]])
    assert mmr_select(query, candidates, 2, diversity=0.0) == [0, 1]
    assert mmr_select(query, candidates, 2, diversity=0.7) == [0, 2]
    assert mmr_select(query, candidates, 5, diversity=0.7) == [0, 2, 1]


@pytest.mark.anyio
async def test_few_shot_fixed_and_selected_examples() -> None:
    examples = [
        ("How long do refunds take?", "14 days."),
        ("How long does a refund take to arrive?", "14 days."),
        ("Do you ship to Canada?", "Yes, in 5-7 days."),
        ("When is support open?", "Weekdays 9-17."),
    ]
    provider = ScriptedProvider()
    fixed = FewShot(model(provider), examples, k=2)
    answer = await fixed.respond([Message.system("Be kind."), Message.user("q")])
    assert contents(answer.requests[0]) == [
        ("system", "Be kind."),
        ("user", examples[0][0]),
        ("assistant", examples[0][1]),
        ("user", examples[1][0]),
        ("assistant", examples[1][1]),
        ("user", "q"),
    ]
    picked = FewShot(model(provider), examples, k=2, embedder=HashingEmbedder(256), diversity=0.5)
    answer = await picked.respond("how long for my refund to take")
    chosen = answer.metadata["examples"]
    assert len(chosen) == 2 and chosen[-1] in (examples[0][0], examples[1][0])
    shown = [m.content for m in answer.requests[0].messages if m.role == "user"][:-1]
    assert shown == chosen
    with pytest.raises(ValueError, match="needs k"):
        FewShot(model(provider), examples, embedder=HashingEmbedder())


@pytest.mark.anyio
async def test_rag_cites_numbered_sources() -> None:
    retriever = InMemoryRetriever(DOCS, HashingEmbedder(256))
    provider = ScriptedProvider(["Refunds take 14 days [1]."])
    answer = await RAG(model(provider), retriever, k=2).respond("How many days do refunds take?")
    assert answer.hits[0].id == "refund" and len(answer.hits) == 2
    prompt = answer.requests[0].messages[-1].content or ""
    assert "[1] (policy/refunds.md) Refunds are issued" in prompt
    assert prompt.endswith("Question: How many days do refunds take?")
    assert answer.metadata["cited"] == ["policy/refunds.md"]


@pytest.mark.anyio
async def test_rag_fine_tuned_relevance_rule() -> None:
    retriever = InMemoryRetriever(DOCS, HashingEmbedder(256))
    provider = ScriptedProvider()
    tuned = model(provider, "ft:base:acme:2")
    no_context = RagFineTuned(tuned, retriever, threshold=0.2, system="You are Acme's bot.")
    relevant = await no_context.respond("How many days do refunds take?")
    assert relevant.metadata["relevance"] == "high" and relevant.metadata["grounded"] is True
    assert "Sources:" in (relevant.requests[0].messages[-1].content or "")
    unrelated = await no_context.respond("zebra xylophone quantum")
    assert unrelated.metadata["relevance"] == "low" and not unrelated.handoff
    assert contents(unrelated.requests[0]) == [("system", "You are Acme's bot."), ("user", "zebra xylophone quantum")]

    handoff = RagFineTuned(
        tuned, retriever, threshold=0.2, on_low_relevance="handoff", handoff_message="A human will help."
    )
    calls = len(provider.requests)
    answer = await handoff.respond("zebra xylophone quantum")
    assert answer.handoff and answer.text == "A human will help." and answer.requests == ()
    assert len(provider.requests) == calls  # no call made
    assert answer.usage.prompt_tokens == 0


@pytest.mark.anyio
async def test_model_ref_strings_resolve_through_a_registry() -> None:
    settings = Settings(profiles={"bot": ProfileConfig(plugin="scripted", options={"replies": ["Hi there!"]})})
    async with Registry(settings) as registry:
        answer = await ZeroShot("bot:any-model", registry=registry).respond("Hello")
    assert answer.text == "Hi there!"
    answer = await ZeroShot("scripted:echo").respond("echo me")  # the process-wide registry
    assert answer.text == "echo me"
    assert tunewise.model("scripted:echo").ref.name == "echo"


@pytest.mark.anyio
async def test_build_strategy_from_dicts_and_toml(tmp_path: Path) -> None:
    (tmp_path / "examples.jsonl").write_text('{"input": "2+2?", "output": "4"}\n{"input": "3+3?", "output": "6"}\n')
    (tmp_path / "docs.jsonl").write_text("\n".join(__import__("json").dumps(d) for d in DOCS) + "\n")
    (tmp_path / "strategies.toml").write_text(
        """
[[strategies]]
type = "few_shot"
name = "fs"
model = "scripted:echo"
examples = "examples.jsonl"
k = 1
embedder = "hashing"
temperature = 0

[[strategies]]
type = "rag_fine_tuned"
model = "scripted:ft:x"
retriever = {type = "memory", documents = "docs.jsonl", embedder = "hashing-128"}
threshold = 0.99
on_low_relevance = "handoff"
"""
    )
    few, rag = load_strategies(tmp_path / "strategies.toml")
    answer = await few.respond("2+2?")
    assert answer.requests[0].temperature == 0
    assert [m.content for m in answer.requests[0].messages] == ["2+2?", "4", "2+2?"]
    assert rag.name == "rag_fine_tuned:scripted:ft:x"
    assert (await rag.respond("refunds")).handoff

    with pytest.raises(ConfigError, match=r"strategy 'x': unknown keys \['temprature'\]"):
        build_strategy({"type": "zero_shot", "name": "x", "model": "scripted:a", "temprature": 1})
    with pytest.raises(ConfigError, match="type must be one of"):
        build_strategy({"type": "magic", "model": "scripted:a"})
    with pytest.raises(ConfigError, match=r"missing required keys \['retriever'\]"):
        build_strategy({"type": "rag", "model": "scripted:a"})
    with pytest.raises(ConfigError, match="unknown retriever 'kb'"):
        build_strategy({"type": "rag", "model": "scripted:a", "retriever": "kb"})
    with pytest.raises(ConfigError, match="on_low_relevance"):
        build_strategy(
            {
                "type": "rag_fine_tuned",
                "model": "scripted:a",
                "retriever": "kb",
                "threshold": 1,
                "on_low_relevance": "x",
            },
            retrievers={"kb": InMemoryRetriever(DOCS, HashingEmbedder())},
        )


@pytest.mark.anyio
async def test_other_packages_register_retriever_and_metric_types(tmp_path: Path) -> None:
    from tunewise.evaluation import Case, ExactMatch, as_metric, register_metric
    from tunewise.strategies import register_retriever

    built: list[dict[str, object]] = []

    def keyword_kb(spec: dict[str, object], ctx: object, where: str) -> InMemoryRetriever:
        built.append(spec)
        return InMemoryRetriever(DOCS, HashingEmbedder(int(str(spec["dimension"]))), name="kw")

    register_retriever("keyword-test", keyword_kb)
    rag = build_strategy(
        {"type": "rag", "model": "scripted:echo", "retriever": {"type": "keyword-test", "dimension": 32}, "k": 1}
    )
    answer = await rag.respond("refunds")
    assert built == [{"dimension": 32}] and answer.hits[0].found_by == {"kw": 1}
    with pytest.raises(ConfigError, match="retriever type must be one of"):
        build_strategy({"type": "rag", "model": "scripted:echo", "retriever": {"type": "nope"}})

    register_metric("strict-test", lambda spec, registry: ExactMatch(normalized=False, **spec))
    metric = as_metric({"type": "strict-test", "name": "strict"})
    assert metric.name == "strict"
    assert (await metric.score(Case.of("q", "A", id="1"), answer)).value == 0.0


def test_bad_request_options_fail_at_construction_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^request option temperature: Input should be less than or equal to 2$"):
        ZeroShot("scripted:echo", temperature=5)
    with pytest.raises(
        ConfigError, match=r"^strategy 'hot': request option max_tokens: Input should be greater than 0$"
    ):
        build_strategy({"type": "zero_shot", "name": "hot", "model": "scripted:echo", "max_tokens": 0})


CASES_FOR_IDS = [Case(id="c1", input=(Message.user("Capital of France?"),), expected="Paris")]


def fingerprinted_strategies() -> list[Any]:
    """One of each built-in strategy, with settings off their defaults where they have any."""
    retriever = InMemoryRetriever(DOCS, HashingEmbedder(32))
    ref = "scripted:base"
    return [
        ZeroShot(ref, temperature=0, max_tokens=20),
        SystemPrompt(ref, "Be brief.", name="brief", seed=7),
        FineTuned("scripted:ft:base:acme:1", system="You are Acme's bot."),
        ChainOfThought(ref, instruction="Think.", answer_pattern=r"ANS: (.+)", system="Be exact.", extra={"x": 1}),
        FewShot(ref, [("2+2?", "4"), {"input": "3+3?", "output": "6"}], k=1, embedder=HashingEmbedder(16)),
        FewShot(ref, [("hi", "hello")], diversity=0.5, system="Greet.", name="greeter"),
        RAG(ref, retriever, k=2, where={"source": "policy/refunds.md"}, system=None),
        RagFineTuned(
            ref, retriever, threshold=0.4, on_low_relevance="handoff", system="Acme bot.", handoff_message="Wait."
        ),
    ]


# Run ids computed by tunewise before strategies declared their fingerprint (from public attributes), for
# fingerprinted_strategies() and CASES_FOR_IDS: a run stored then must resume under the same id now.
OLD_RUN_IDS = {
    "zero_shot:scripted:base": "run-859135ba8757",
    "brief": "run-baed7f50bd94",
    "fine_tuned:scripted:ft:base:acme:1": "run-bb81d99b9a13",
    "chain_of_thought:scripted:base": "run-daa2da2508e1",
    "few_shot:scripted:base": "run-007603492ade",
    "greeter": "run-a4a427f35bcf",
    "rag:scripted:base": "run-c561c0be6e95",
    "rag_fine_tuned:scripted:base": "run-8df2ed282884",
}


@pytest.mark.parametrize("index", range(8))
def test_a_strategy_fingerprint_keeps_the_run_id_of_stored_runs(index: int) -> None:
    from tunewise.evaluation._runner import config_hash
    from tunewise.strategies._fingerprint import attribute_settings

    strategy = fingerprinted_strategies()[index]
    assert strategy.fingerprint() == attribute_settings(strategy)  # what run ids were derived from before
    settings = [{"name": strategy.name, **strategy.fingerprint()}]
    assert f"run-{config_hash(settings, [], CASES_FOR_IDS, {})[:12]}" == OLD_RUN_IDS[strategy.name]


def test_a_built_in_fingerprint_is_declared_but_a_subclass_elsewhere_counts_its_own_attributes() -> None:
    strategy = SystemPrompt("scripted:base", "Be brief.")
    declared = strategy.fingerprint()
    strategy.cache_note = "not a setting"  # type: ignore[attr-defined]  # an attribute is not part of the run id
    assert strategy.fingerprint() == declared and declared["system"] == "Be brief."

    class Polite(ZeroShot):  # a user's subclass: its public attributes still make new run ids
        def __init__(self, model: str, tone: str) -> None:
            super().__init__(model)
            self.tone = tone

    warm, cold = Polite("scripted:base", "warm").fingerprint(), Polite("scripted:base", "cold").fingerprint()
    assert warm["tone"] == "warm" and cold["tone"] == "cold" and warm["class"].endswith("Polite")

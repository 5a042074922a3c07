"""Evaluation through OpenAI's Batch API, against the fake server's batches: the same rows as a live run, at the
batch price; failed requests retried once; strategies that cannot batch run live."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tunewise import Answer, Message, Model, ModelRef
from tunewise.costs import UnknownPriceWarning, cost_of
from tunewise.evaluation import BatchOptions, Case, CaseResult, PriceTable, RunStore, evaluate
from tunewise.retrieval import HashingEmbedder, InMemoryRetriever
from tunewise.strategies import RAG, ChainOfThought, RagFineTuned, SystemPrompt, ZeroShot
from tunewise_openai.fake import FakeServer

pytestmark = pytest.mark.anyio

DOCS = [
    {"id": "d1", "text": "Refunds take 14 days to reach your card.", "source": "refunds.md"},
    {"id": "d2", "text": "Passwords are reset from the login page.", "source": "passwords.md"},
]
QUESTIONS = ["How long do refunds take?", "How do I reset my password?", "Where is the moon?", "REFUSE this one"]
METRICS: list[Any] = ["exact_match", "token_f1", {"type": "must_contain", "name": "cites"}]


def cases() -> list[Case]:
    return [
        Case.of(q, f"You said: {q}", id=f"c{i}", metadata={"kind": "a" if i % 2 else "b", "must_contain": ["said"]})
        for i, q in enumerate(QUESTIONS * 2)
    ]


def strategies(provider: Any) -> list[Any]:
    model = Model(ModelRef.parse("openai:gpt-4o-mini"), provider)
    retriever = InMemoryRetriever(DOCS, HashingEmbedder())
    return [
        ZeroShot(model, name="zero", max_tokens=40),
        SystemPrompt(model, "Be brief.", name="system"),
        ChainOfThought(model, name="cot"),
        RAG(model, retriever, k=1, name="rag"),
        RagFineTuned(model, retriever, threshold=0.5, on_low_relevance="handoff", name="hybrid"),
    ]


def comparable(result: CaseResult) -> dict[str, Any]:
    """A stored row without what differs between any two runs: run id, timings, costs, response ids."""
    row = result.model_dump(exclude={"run_id", "latency_s", "cost"})
    row["error"] = re.sub(r" \(request id \w+\)", "", row["error"] or "")
    if row["answer"] is None:
        return row
    for response in [row["answer"]["response"], *row["answer"].get("responses", ())]:
        for volatile in ("latency_s", "request_id", "id", "created"):
            response.pop(volatile, None)
    return row


async def test_a_batch_run_stores_what_a_live_run_stores_at_half_the_price(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    async with provider_factory() as provider:
        live = await evaluate(strategies(provider), cases(), METRICS, store=store, run_id="live", cost=cost_of)
        live_served = fake.stats()["completions_served"]
        fake.reset()  # the fake counts a prompt it has seen as cached: start both runs alike
        batch = await evaluate(
            strategies(provider), cases(), METRICS, store=store, run_id="batch", cost=cost_of, batch=True
        )
    stats = fake.stats()
    assert stats["batches"] == 1 and stats["completions_served"] == live_served  # one batch held every call
    assert stats["requests_by_path"].get("/v1/chat/completions") is None  # and nothing went live
    assert (batch.ok, batch.errors) == (live.ok, live.errors) and batch.errors > 0  # REFUSE fails in both
    assert [c.model_dump(exclude={"example"}) for c in batch.causes] == [
        c.model_dump(exclude={"example"}) for c in live.causes
    ]
    assert len(batch.batches) == 1 and batch.notes == ()
    live_rows, batch_rows = store.results("live"), store.results("batch")
    assert len(live_rows) == len(batch_rows) == 40
    for a, b in zip(live_rows, batch_rows, strict=True):
        assert comparable(a) == comparable(b)
        if a.status == "ok" and a.usage.prompt_tokens and a.cost is not None:
            assert b.cost == pytest.approx(a.cost / 2)  # gpt-4o-mini's batch discount is 50%
        else:
            assert b.cost == a.cost
    assert any(r.handoff for r in batch_rows) and any(r.answer and r.answer["hits"] for r in batch_rows)
    assert live.cost is not None and batch.cost == pytest.approx(live.cost / 2)
    assert store.run("batch").config["batch"] == {"retry": "batch"}


async def test_failed_requests_go_again_in_one_follow_up_batch(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    fake.fake.state.fail_batch_requests = 3
    async with provider_factory() as provider:
        summary = await evaluate(
            strategies(provider)[:1], cases(), store=tmp_path / "runs.sqlite", cost=cost_of, batch=True
        )
    assert fake.stats()["batches"] == 2 and len(summary.batches) == 2
    assert (summary.ok, summary.errors) == (6, 2)  # only the two refusals: they are no server error
    assert summary.notes == ("3 requests failed in the batch and are sent again in a follow-up batch",)


async def test_failed_requests_can_go_again_live_or_stay_errors(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    fake.fake.state.fail_batch_requests = 3
    async with provider_factory() as provider:
        live_retry = await evaluate(
            strategies(provider)[:1], cases()[:3], store=tmp_path / "a.sqlite", batch=BatchOptions(retry="live")
        )
        assert fake.stats()["requests_by_path"]["/v1/chat/completions"] == 3 and live_retry.ok == 3
        fake.reset()
        fake.fake.state.fail_batch_requests = 2
        kept = await evaluate(
            strategies(provider)[:1], cases()[:3], store=tmp_path / "b.sqlite", batch=BatchOptions(retry="none")
        )
    assert fake.stats()["batches"] == 1 and (kept.ok, kept.errors) == (1, 2)
    (cause,) = kept.causes
    assert cause.count == 2 and "server had an error" in cause.cause  # grouped by cause like a live run's errors


class TwoCalls:
    """A strategy whose second call depends on the first answer: it cannot batch."""

    name = "two-calls"

    def __init__(self, model: Model) -> None:
        self.model = model

    async def respond(self, conversation: Sequence[Message]) -> Answer:
        draft = await self.model.chat(conversation)
        final = await self.model.chat(f"Improve: {draft.text}")
        request = self.model.request([Message.user("x")])
        return Answer(strategy=self.name, response=final, requests=(request, request), responses=(draft, final))


async def test_a_strategy_that_does_not_declare_batchable_runs_live_and_says_so(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    async with provider_factory() as provider:
        model = Model(ModelRef.parse("openai:gpt-4o-mini"), provider)
        summary = await evaluate(
            [ZeroShot(model, name="zero"), TwoCalls(model)], cases()[:2], store=tmp_path / "r.sqlite", batch=True
        )
    assert summary.ok == 4
    assert summary.notes == (
        "strategy 'two-calls' runs live: it does not declare batchable = True "
        "(its model calls may depend on each other's answers)",
    )
    stats = fake.stats()
    assert stats["batches"] == 1 and stats["requests_by_path"]["/v1/chat/completions"] == 4


async def test_batch_prices_need_a_batch_discount(provider_factory: Any, fake: FakeServer, tmp_path: Path) -> None:
    def full_price_only(model_ref: str, usage: Any) -> float | None:
        return cost_of(model_ref, usage)

    async with provider_factory() as provider:
        model = Model(ModelRef.parse("openai:gpt-4o-mini"), provider)
        with pytest.warns(UnknownPriceWarning, match="takes no batch= argument"):
            unknown = await evaluate(
                [ZeroShot(model)], cases()[:1], store=tmp_path / "a.sqlite", cost=full_price_only, batch=True
            )
        no_discount = PriceTable({"openai:gpt-4o-mini": {"batch_discount": None}})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            also = await evaluate(
                [ZeroShot(model)], cases()[:1], store=tmp_path / "b.sqlite", cost=no_discount, batch=True
            )
    assert unknown.cost is None and also.cost is None  # never the full price in silence
    assert any("no batch discount" in str(w.message) for w in caught)

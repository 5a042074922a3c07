"""RagFineTuned's relevance threshold over hybrid retrieval: real Chroma (embedded), real MiniLM, real BM25.

Hybrid fusion rescales scores per query, so the best hit of any query scores high; the
threshold is compared with the dense member's raw cosine instead (``Hit.scores``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise import ConfigError
from tunewise.retrieval import Index
from tunewise.strategies import RagFineTuned, build_strategy

pytestmark = pytest.mark.anyio

OFF_TOPIC = "Write a haiku about autumn leaves."
ON_TOPIC = "what does error E47 mean?"


@pytest.fixture
async def index(tmp_path: Path, corpus: Path, minilm: object) -> Index:
    index = Index.open(tmp_path / "kb-index", "thermostat", embedder=minilm)  # type: ignore[arg-type]
    await index.add(corpus)
    return index


def bot(retriever: object, **options: object) -> RagFineTuned:
    return RagFineTuned("scripted:ft:support", retriever, threshold=0.25, on_low_relevance="handoff", **options)  # type: ignore[arg-type]


async def test_off_topic_hands_off_and_on_topic_does_not_with_hybrid_retrieval(index: Index) -> None:
    hybrid = index.retriever("hybrid")
    [best] = await hybrid.retrieve(OFF_TOPIC, k=1)
    assert best.score >= 0.75  # the fused score: rescaled per query, it says nothing about relevance
    assert best.scores["dense"] < 0.25  # the raw cosine does

    strategy = bot(hybrid)
    off_topic = await strategy.respond(OFF_TOPIC)
    assert off_topic.handoff and off_topic.requests == ()  # no model call
    assert off_topic.metadata["relevance"] == "low" and off_topic.metadata["threshold_on"] == "dense"
    assert off_topic.metadata["best_score"] < 0.25

    on_topic = await strategy.respond(ON_TOPIC)
    assert not on_topic.handoff and on_topic.metadata["relevance"] == "high"
    assert on_topic.hits[0].source == "error-e47.md"  # relative to the ingested folder, not a server path
    assert on_topic.hits[0].scores.keys() == {"dense", "bm25"} and on_topic.hits[0].found_by.keys() == {"dense", "bm25"}
    prompt = on_topic.requests[0].messages[-1].content or ""
    assert "(error-e47.md)" in prompt and str(index.location) not in prompt


async def test_threshold_on_picks_the_member_and_a_hit_it_did_not_find_is_below(
    index: Index, caplog: pytest.LogCaptureFixture
) -> None:
    hybrid = index.retriever("hybrid")
    hits = await hybrid.retrieve("Tell me a joke about zebras", k=4)
    assert any("bm25" not in h.scores for h in hits)  # BM25 found only some of them
    # raw BM25 is a poor relevance test: common words ("me", "about") alone score about 1, above 0.25
    lexical = await bot(hybrid, threshold_on="bm25", k=4).respond("Tell me a joke about zebras")
    assert lexical.metadata["threshold_on"] == "bm25" and not lexical.handoff
    assert lexical.metadata["best_score"] == max(h.scores["bm25"] for h in hits if "bm25" in h.scores)
    # words BM25 has never seen: dense still returns passages, but none that BM25 found, so none is relevant
    unseen = await bot(hybrid, threshold_on="bm25").respond("xylophone quartz")
    assert unseen.hits and all("bm25" not in h.scores for h in unseen.hits)
    assert unseen.handoff and unseen.metadata["best_score"] is None
    with pytest.raises(
        ValueError, match="threshold_on='sparse' is not a retriever of 'hybrid'; use one of 'dense', 'bm25'"
    ):
        bot(hybrid, threshold_on="sparse")
    # a hybrid without a member named "dense": its fused scores are compared, and a warning says so
    from tunewise.retrieval import BM25Retriever, DenseRetriever, HybridRetriever

    renamed = HybridRetriever([DenseRetriever(index.store, index.embedder, name="vec"), BM25Retriever(index.bm25)])
    with caplog.at_level("WARNING", logger="tunewise.strategies"):
        assert (await bot(renamed).respond(OFF_TOPIC)).metadata["threshold_on"] is None
    assert "compared with the fused scores of 'hybrid'" in caplog.text and "vec, bm25" in caplog.text
    assert not (await bot(renamed, threshold_on="vec").respond(ON_TOPIC)).handoff
    # a plain dense retriever: its hits' score is the cosine, under the member name "dense"
    dense = await bot(index.retriever("dense")).respond(OFF_TOPIC)
    assert dense.handoff and dense.metadata["threshold_on"] == "dense"


async def test_threshold_on_from_strategy_config(index: Index, tmp_path: Path) -> None:
    spec = {
        "type": "rag_fine_tuned",
        "model": "scripted:ft:support",
        "retriever": {"type": "index", "location": "kb-index", "collection": "thermostat", "mode": "hybrid"},
        "threshold": 0.25,
        "threshold_on": "dense",
        "on_low_relevance": "handoff",
    }
    strategy = build_strategy(spec, base_dir=tmp_path)
    assert (await strategy.respond(OFF_TOPIC)).handoff
    assert not (await strategy.respond(ON_TOPIC)).handoff
    with pytest.raises(ConfigError, match=r"strategy 'rag_fine_tuned': threshold_on='cosine' is not a retriever"):
        build_strategy({**spec, "threshold_on": "cosine"}, base_dir=tmp_path)

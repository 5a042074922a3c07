import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunewise import ConfigError, Hit
from tunewise.retrieval import matches, normalize_scores, reciprocal_rank_fusion, weighted_score_fusion
from tunewise.retrieval.metrics import dcg_at_k, ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank


def hits(name: str, *pairs: tuple[str, float]) -> list[Hit]:
    return [
        Hit(id=i, document=i, score=s, source=f"{i}.md", rank=r, found_by={name: r})
        for r, (i, s) in enumerate(pairs, start=1)
    ]


def test_rrf_matches_the_formula_and_records_ranks() -> None:
    dense = hits("dense", ("a", 0.9), ("b", 0.8), ("c", 0.1))
    bm25 = hits("bm25", ("c", 12.0), ("a", 3.0))
    fused = reciprocal_rank_fusion({"dense": dense, "bm25": bm25}, k=60)
    assert [h.id for h in fused] == ["a", "c", "b"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[1].score == pytest.approx(1 / 63 + 1 / 61)
    assert [h.found_by for h in fused] == [{"dense": 1, "bm25": 2}, {"dense": 3, "bm25": 1}, {"dense": 2}]
    assert [h.scores for h in fused] == [{"dense": 0.9, "bm25": 3.0}, {"dense": 0.1, "bm25": 12.0}, {"dense": 0.8}]
    assert [h.rank for h in fused] == [1, 2, 3]
    weighted = reciprocal_rank_fusion({"dense": dense, "bm25": bm25}, k=0, weights={"bm25": 3.0}, limit=1)
    assert [h.id for h in weighted] == ["c"]


def test_weighted_fusion_normalises_each_retriever() -> None:
    dense = hits("dense", ("a", 0.9), ("b", 0.5), ("c", 0.1))
    bm25 = hits("bm25", ("c", 20.0), ("b", 10.0))
    fused = weighted_score_fusion({"dense": dense, "bm25": bm25}, weights={"dense": 0.75, "bm25": 0.25})
    scores = {h.id: h.score for h in fused}
    assert scores == pytest.approx({"a": 0.75, "b": 0.75 * 0.5, "c": 0.25})
    assert [h.id for h in fused] == ["a", "b", "c"]
    assert [h.scores for h in fused] == [{"dense": 0.9}, {"dense": 0.5, "bm25": 10.0}, {"dense": 0.1, "bm25": 20.0}]


@pytest.mark.anyio
async def test_hybrid_of_any_retrievers_keeps_each_members_raw_score() -> None:
    from tunewise.retrieval import HybridRetriever
    from tunewise.testing import HashingEmbedder, InMemoryRetriever

    docs = [{"id": "e47", "text": "E47 means low voltage on the R wire"}, {"id": "wifi", "text": "Wi-Fi needs 2.4 GHz"}]
    near = InMemoryRetriever(docs, HashingEmbedder(64), name="near")
    far = InMemoryRetriever(docs, HashingEmbedder(32), name="far")
    for fusion in ("rrf", "weighted"):
        hybrid = HybridRetriever([near, far], fusion=fusion)  # type: ignore[arg-type]
        [top, *_] = await hybrid.retrieve("what is E47 low voltage", k=2)
        [by_near] = await near.retrieve("what is E47 low voltage", k=1)
        [by_far] = await far.retrieve("what is E47 low voltage", k=1)
        assert top.id == by_near.id == by_far.id == "e47"
        assert top.scores == {"near": by_near.score, "far": by_far.score} and by_near.scores == {"near": by_near.score}


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30))
def test_minmax_is_within_unit_interval(scores: list[float]) -> None:
    out = normalize_scores(scores, "minmax")
    assert all(0.0 <= s <= 1.0 for s in out)
    assert max(out) == 1.0


def test_zscore() -> None:
    assert normalize_scores([1.0, 3.0], "zscore") == [-1.0, 1.0]


def test_metrics_against_hand_computed_values() -> None:
    ranked = ["x", "a", "y", "b", "a"]
    relevant = {"a", "b", "c"}
    assert dcg_at_k(ranked, relevant, 10) == pytest.approx(1 / math.log2(3) + 1 / math.log2(5))
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(2 / 3)
    assert precision_at_k(ranked, relevant, 4) == 0.5
    assert reciprocal_rank(ranked, relevant) == 0.5
    assert ndcg_at_k(["a"], {"a": 3.0, "b": 1.0}, 1) == 1.0
    assert ndcg_at_k(["b", "a"], {"a": 3.0, "b": 1.0}, 2) < ndcg_at_k(["a", "b"], {"a": 3.0, "b": 1.0}, 2) == 1.0
    assert ndcg_at_k(["a"], set(), 10) == 0.0


def test_where_filters_follow_chroma_semantics() -> None:
    meta = {"lang": "en", "year": 2024, "draft": False}
    assert matches({"lang": "en"}, meta)
    assert not matches({"lang": "fr"}, meta)
    assert matches({"year": {"$gte": 2024, "$lt": 2025}}, meta)
    assert matches({"$or": [{"lang": "fr"}, {"draft": False}]}, meta)
    assert not matches({"$and": [{"lang": "en"}, {"year": {"$in": [2020, 2021]}}]}, meta)
    assert matches({"missing": {"$ne": "x"}}, meta)
    assert not matches({"missing": {"$eq": "x"}}, meta)
    with pytest.raises(ConfigError, match="unknown operator"):
        matches({"year": {"$near": 1}}, meta)


rankings_strategy = st.dictionaries(
    st.sampled_from(["dense", "bm25", "other"]),
    st.lists(st.tuples(st.sampled_from("abcdefgh"), st.floats(0, 10)), max_size=8, unique_by=lambda p: p[0]),
    min_size=1,
)


@given(rankings_strategy, st.sampled_from(["rrf", "weighted"]))
def test_fusion_keeps_every_hit_once_with_its_ranks(raw: dict[str, list[tuple[str, float]]], method: str) -> None:
    rankings = {name: hits(name, *pairs) for name, pairs in raw.items()}
    fuse = reciprocal_rank_fusion if method == "rrf" else weighted_score_fusion
    fused = fuse(rankings)
    assert sorted(h.id for h in fused) == sorted({i for pairs in raw.values() for i, _ in pairs})
    assert [h.rank for h in fused] == list(range(1, len(fused) + 1))
    assert all(a.score >= b.score for a, b in itertools.pairwise(fused))
    for h in fused:
        assert h.found_by == {n: r for n, pairs in raw.items() for r, (i, _) in enumerate(pairs, 1) if i == h.id}

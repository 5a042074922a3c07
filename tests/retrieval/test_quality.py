"""Real MiniLM on the labeled Lumen set: hybrid must beat or tie the best single retriever."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise.interfaces.retriever import Hit
from tunewise.retrieval import Index, evaluate_retriever, load_labeled_queries

from .conftest import DATA

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def doc_id(hit: Hit) -> str:
    return Path(hit.source).stem


async def test_hybrid_beats_or_ties_the_best_single_retriever(tmp_path: Path, minilm: object) -> None:
    index = Index.open(tmp_path / "kb", "lumen", embedder=minilm)  # type: ignore[arg-type]
    await index.add(DATA / "docs")
    queries = load_labeled_queries(DATA / "queries.jsonl")
    assert len(queries) >= 30
    scores = {
        mode: await evaluate_retriever(index.retriever(mode), queries, k=10, key=doc_id)  # type: ignore[arg-type]
        for mode in ("dense", "bm25", "hybrid")
    }
    best_ndcg = max(scores["dense"].ndcg, scores["bm25"].ndcg)
    best_recall = max(scores["dense"].recall, scores["bm25"].recall)
    assert scores["hybrid"].ndcg >= best_ndcg, {m: s.ndcg for m, s in scores.items()}
    assert scores["hybrid"].recall >= best_recall, {m: s.recall for m, s in scores.items()}
    # Each single retriever fails somewhere the other succeeds: the set exercises both.
    dense_only = [q for q, v in scores["dense"].per_query.items() if v["ndcg"] > scores["bm25"].per_query[q]["ndcg"]]
    bm25_only = [q for q, v in scores["bm25"].per_query.items() if v["ndcg"] > scores["dense"].per_query[q]["ndcg"]]
    assert dense_only and bm25_only
    # RRF is available too and still finds what the members find.
    rrf = await evaluate_retriever(index.retriever("hybrid", fusion="rrf"), queries, k=10, key=doc_id)
    assert rrf.recall >= best_recall


async def test_minilm_embeddings_are_normalised_and_semantic(minilm: object) -> None:
    vectors = await minilm.embed(["reset the thermostat", "restore factory settings", "shipping to Canada"])  # type: ignore[attr-defined]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    assert await minilm.embed([]) == []  # type: ignore[attr-defined]

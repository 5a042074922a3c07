"""Scoring a retriever on labeled queries (nDCG@k, recall@k, MRR), per query and on average."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tunewise._errors import DataError
from tunewise._jsonl import iter_jsonl_objects
from tunewise.interfaces.retriever import Hit, Retriever
from tunewise.retrieval.metrics import mean, ndcg_at_k, recall_at_k, reciprocal_rank


@dataclass(frozen=True)
class LabeledQuery:
    """A query and the ids judged relevant to it (chunk ids, or whatever ``key`` maps hits to)."""

    id: str
    query: str
    relevant: frozenset[str]


@dataclass
class RetrievalScores:
    """Mean metrics over a query set, with the per-query values behind them."""

    retriever: str
    k: int
    ndcg: float
    recall: float
    mrr: float
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)


def load_labeled_queries(path: str | Path) -> list[LabeledQuery]:
    """Read JSONL lines ``{"id": ..., "query": ..., "relevant": [...]}``."""
    file = Path(path)
    queries = []
    for number, raw in iter_jsonl_objects(file):
        for name in ("id", "query", "relevant"):
            if name not in raw:
                raise DataError("missing field", path=file, line=number, field=name)
        if not isinstance(raw["relevant"], list) or not raw["relevant"]:
            raise DataError("expected a non-empty list", path=file, line=number, field="relevant")
        queries.append(LabeledQuery(str(raw["id"]), str(raw["query"]), frozenset(map(str, raw["relevant"]))))
    return queries


def by_id(hit: Hit) -> str:
    return hit.id


async def evaluate_retriever(
    retriever: Retriever,
    queries: Sequence[LabeledQuery],
    *,
    k: int = 10,
    key: Callable[[Hit], str] = by_id,
) -> RetrievalScores:
    """Run every query and score the ranking; ``key`` maps a hit to the ids used in ``relevant``.

    Several hits with the same key (chunks of one document) count once, at the best rank.
    """
    per_query: dict[str, dict[str, float]] = {}
    for q in queries:
        ranked = [key(hit) for hit in await retriever.retrieve(q.query, k)]
        per_query[q.id] = {
            "ndcg": ndcg_at_k(ranked, q.relevant, k),
            "recall": recall_at_k(ranked, q.relevant, k),
            "mrr": reciprocal_rank(ranked, q.relevant, k),
        }
    return RetrievalScores(
        retriever=retriever.name,
        k=k,
        ndcg=mean([s["ndcg"] for s in per_query.values()]),
        recall=mean([s["recall"] for s in per_query.values()]),
        mrr=mean([s["mrr"] for s in per_query.values()]),
        per_query=per_query,
    )

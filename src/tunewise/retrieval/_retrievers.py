"""Retrievers: dense (Chroma + an embedder), lexical (BM25) and hybrid (fusion of any set).

Each implements :class:`tunewise.Retriever`. Blocking work (Chroma calls, BM25 scoring)
runs in worker threads, and the hybrid retriever queries its members concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import anyio

from tunewise.interfaces.embedder import Embedder
from tunewise.interfaces.retriever import Hit, Retriever
from tunewise.retrieval._bm25 import BM25Index
from tunewise.retrieval._store import ChromaStore, check_embedder
from tunewise.retrieval.fusion import Normalization, reciprocal_rank_fusion, weighted_score_fusion

Fusion = Literal["rrf", "weighted"]


def _hit(chunk_id: str, document: str, metadata: Mapping[str, Any], score: float, rank: int, name: str) -> Hit:
    return Hit(
        id=chunk_id,
        document=document,
        score=score,
        source=str(metadata.get("source", "")),
        rank=rank,
        metadata=dict(metadata),
        found_by={name: rank},
    )


class DenseRetriever:
    """Nearest chunks by cosine similarity of embeddings (score = 1 - cosine distance)."""

    def __init__(self, store: ChromaStore, embedder: Embedder, *, name: str = "dense") -> None:
        check_embedder(store, embedder)
        self.store = store
        self.embedder = embedder
        self.name = name

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        [vector] = await self.embedder.embed([query])
        rows = await anyio.to_thread.run_sync(self.store.query, vector, k, where)
        return [_hit(i, doc, meta, 1.0 - dist, r, self.name) for r, (i, doc, meta, dist) in enumerate(rows, start=1)]


class BM25Retriever:
    """Chunks sharing query terms, ranked by BM25."""

    def __init__(self, index: BM25Index, *, name: str = "bm25") -> None:
        self.index = index
        self.name = name

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        results = await anyio.to_thread.run_sync(self.index.search, query, k, where)
        return [_hit(e.id, e.text, e.metadata, s, r, self.name) for r, (e, s) in enumerate(results, start=1)]


class HybridRetriever:
    """Runs several retrievers concurrently and fuses their rankings.

    Args:
        retrievers: the members; their ``name`` keys ``found_by`` and ``weights``.
        fusion: ``"rrf"`` (reciprocal rank fusion) or ``"weighted"`` (normalised scores).
        rrf_k: the RRF constant (60 in the original paper).
        weights: per-retriever weights (default 1 each).
        normalization: how ``"weighted"`` puts scores on one scale.
        candidates: how many hits to ask each member for (default ``max(4 * k, 20)``).
    """

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        *,
        fusion: Fusion = "rrf",
        rrf_k: float = 60.0,
        weights: Mapping[str, float] | None = None,
        normalization: Normalization = "minmax",
        candidates: int | None = None,
        name: str = "hybrid",
    ) -> None:
        names = [r.name for r in retrievers]
        if not retrievers:
            raise ValueError("a hybrid retriever needs at least one retriever")
        if len(set(names)) != len(names):
            raise ValueError(f"retriever names must be distinct, got {names}")
        if fusion not in ("rrf", "weighted"):
            raise ValueError(f"unknown fusion {fusion!r}; use 'rrf' or 'weighted'")
        self.retrievers = list(retrievers)
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.weights = dict(weights or {})
        self.normalization: Normalization = normalization
        self.candidates = candidates
        self.name = name

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        depth = self.candidates or max(4 * k, 20)
        rankings: dict[str, list[Hit]] = {}

        async def run(retriever: Retriever) -> None:
            rankings[retriever.name] = await retriever.retrieve(query, depth, where)

        async with anyio.create_task_group() as group:
            for retriever in self.retrievers:
                group.start_soon(run, retriever)
        ordered = {r.name: rankings[r.name] for r in self.retrievers}
        if self.fusion == "rrf":
            return reciprocal_rank_fusion(ordered, k=self.rrf_k, weights=self.weights, limit=k)
        return weighted_score_fusion(ordered, weights=self.weights, normalization=self.normalization, limit=k)

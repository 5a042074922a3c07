"""Retrievers: dense (Chroma + an embedder), lexical (BM25) and hybrid (fusion of any set).

Each implements [`tunewise.Retriever`][tunewise.Retriever]. Blocking work (Chroma calls, BM25 scoring)
runs in worker threads, and the hybrid retriever queries its members concurrently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import anyio

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder
from tunewise.interfaces.retriever import Hit, Retriever
from tunewise.retrieval._bm25 import BM25Index
from tunewise.retrieval._filters import check_where
from tunewise.retrieval._store import ChromaStore, check_embedder
from tunewise.retrieval.fusion import (
    Normalization,
    reciprocal_rank_fusion,
    rrf_scores,
    weighted_score_fusion,
    weighted_scores,
)

Fusion = Literal["rrf", "weighted"]
_Row = tuple[str, str, Mapping[str, Any], float]
"""(id, document, metadata, score)"""
Before = Callable[[], Awaitable[object]]
"""Awaited before each search (``Index`` catches up with other processes' writes there)."""


def check_query(k: int, where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``k`` must be a whole number >= 1; ``where`` is checked (see `check_where()`). One-line errors."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k must be a whole number >= 1, got {k!r}")
    return check_where(where)


def _hit(
    chunk_id: str,
    document: str,
    metadata: Mapping[str, Any],
    score: float,
    rank: int,
    name: str,
    found_by: dict[str, int] | None = None,
    scores: dict[str, float] | None = None,
) -> Hit:
    # model_construct skips validation: every field here is already of the right type,
    # and building thousands of hits per second is on the query path.
    return Hit.model_construct(
        id=chunk_id,
        document=document,
        score=score,
        source=str(metadata.get("source", "")),
        rank=rank,
        metadata=dict(metadata),
        found_by=found_by if found_by is not None else {name: rank},
        scores=scores if scores is not None else {name: score},
    )


class DenseRetriever:
    """Nearest chunks by cosine similarity of embeddings (score = 1 - cosine distance)."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, *, name: str = "dense", before: Before | None = None
    ) -> None:
        check_embedder(store, embedder)
        self.store = store
        self.embedder = embedder
        self.name = name
        self.before = before

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        where = check_query(k, where)
        if self.before is not None:
            await self.before()
        [vector] = await self.embedder.embed([query])
        return await anyio.to_thread.run_sync(self.search, vector, k, where)

    def search(self, vector: Sequence[float], k: int, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The blocking part of `retrieve()`, for an already embedded query."""
        return [_hit(*row, r, self.name) for r, row in enumerate(self.rows(vector, k, where), start=1)]

    def rows(self, vector: Sequence[float], k: int, where: Mapping[str, Any] | None = None) -> list[_Row]:
        return [(i, doc, meta, 1.0 - dist) for i, doc, meta, dist in self.store.query(vector, k, where)]


class BM25Retriever:
    """Chunks sharing query terms, ranked by BM25."""

    def __init__(self, index: BM25Index, *, name: str = "bm25", before: Before | None = None) -> None:
        self.index = index
        self.name = name
        self.before = before

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        where = check_query(k, where)
        if self.before is not None:
            await self.before()
        return await anyio.to_thread.run_sync(self.search, query, k, where)

    def search(self, query: str, k: int, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The blocking part of `retrieve()`."""
        return [_hit(*row, r, self.name) for r, row in enumerate(self.rows(query, k, where), start=1)]

    def rows(self, query: str, k: int, where: Mapping[str, Any] | None = None) -> list[_Row]:
        return [(e.id, e.text, e.metadata, s) for e, s in self.index.search(query, k, where)]


class HybridRetriever:
    """Runs several retrievers concurrently and fuses their rankings.

    Args:
        retrievers: the members; their ``name`` keys ``found_by``, ``scores`` and ``weights``.
        fusion: ``"rrf"`` (reciprocal rank fusion) or ``"weighted"`` (normalised scores).
        rrf_k: the RRF constant (60 in the original paper).
        weights: per-retriever weights (default 1 each).
        normalization: how ``"weighted"`` puts scores on one scale.
        candidates: how many hits to ask each member for (default ``max(4 * k, 20)``).
        before: awaited before each search.
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
        before: Before | None = None,
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
        self.before = before

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        where = check_query(k, where)
        if self.before is not None:
            await self.before()
        depth = self.candidates or max(4 * k, 20)
        rankings: dict[str, list[Hit]] = {}
        local = [r for r in self.retrievers if isinstance(r, DenseRetriever | BM25Retriever)]
        if len(local) == len(self.retrievers):
            return await self._retrieve_local(local, query, k, depth, where)

        async def run(retriever: Retriever) -> None:
            rankings[retriever.name] = await retriever.retrieve(query, depth, where)

        async with anyio.create_task_group() as group:
            for retriever in self.retrievers:
                group.start_soon(run, retriever)
        return self._fuse(rankings, k)

    async def _retrieve_local(
        self,
        members: list[DenseRetriever | BM25Retriever],
        query: str,
        k: int,
        depth: int,
        where: Mapping[str, Any] | None,
    ) -> list[Hit]:
        """Search with all members in-process.

        Embed once per embedder, search them all in one worker thread, fuse on (id, score) pairs and
        build ``Hit`` objects for the final ``k`` only.
        """
        vectors: dict[int, Sequence[float]] = {}
        for r in members:
            if isinstance(r, DenseRetriever) and id(r.embedder) not in vectors:
                [vectors[id(r.embedder)]] = await r.embedder.embed([query])

        def search_all() -> dict[str, list[_Row]]:
            return {
                r.name: r.rows(vectors[id(r.embedder)], depth, where)
                if isinstance(r, DenseRetriever)
                else r.rows(query, depth, where)
                for r in members
            }

        rows = await anyio.to_thread.run_sync(search_all)
        pairs = {name: [(row[0], row[3]) for row in found] for name, found in rows.items()}
        if self.fusion == "rrf":
            fused = rrf_scores(pairs, k=self.rrf_k, weights=self.weights, limit=k)
        else:
            fused = weighted_scores(pairs, weights=self.weights, normalization=self.normalization, limit=k)
        first: dict[str, _Row] = {}
        raw: dict[str, dict[str, float]] = {}
        for name, found in rows.items():
            for row in found:
                first.setdefault(row[0], row)
                raw.setdefault(row[0], {}).setdefault(name, row[3])
        hits = []
        for rank, (key, score, found_by) in enumerate(fused, start=1):
            chunk_id, document, metadata, _ = first[key]
            hits.append(_hit(chunk_id, document, metadata, score, rank, self.name, found_by, raw[key]))
        return hits

    def _fuse(self, rankings: dict[str, list[Hit]], k: int) -> list[Hit]:
        ordered = {r.name: rankings[r.name] for r in self.retrievers}
        if self.fusion == "rrf":
            return reciprocal_rank_fusion(ordered, k=self.rrf_k, weights=self.weights, limit=k)
        return weighted_score_fusion(ordered, weights=self.weights, normalization=self.normalization, limit=k)

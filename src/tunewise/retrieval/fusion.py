"""Fusing ranked lists from several retrievers: reciprocal rank and weighted scores.

Pure functions over ``{retriever name: ranked hits}``. Every fused :class:`~tunewise.Hit`
records in ``found_by`` which retrievers returned it and at what (1-based) rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from tunewise.interfaces.retriever import Hit

Normalization = Literal["minmax", "zscore", "none"]


def _fused(
    scores: dict[str, float], first: dict[str, Hit], found_by: dict[str, dict[str, int]], limit: int | None
) -> list[Hit]:
    order = sorted(scores, key=lambda key: (-scores[key], min(found_by[key].values()), key))
    if limit is not None:
        order = order[:limit]
    return [
        first[key].model_copy(update={"score": scores[key], "rank": rank, "found_by": found_by[key]})
        for rank, key in enumerate(order, start=1)
    ]


def _collect(rankings: Mapping[str, Sequence[Hit]]) -> tuple[dict[str, Hit], dict[str, dict[str, int]]]:
    first: dict[str, Hit] = {}
    found_by: dict[str, dict[str, int]] = {}
    for name, hits in rankings.items():
        for position, hit in enumerate(hits, start=1):
            first.setdefault(hit.id, hit)
            found_by.setdefault(hit.id, {}).setdefault(name, position)
    return first, found_by


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[Hit]],
    *,
    k: float = 60.0,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Hit]:
    """Reciprocal rank fusion (Cormack et al., 2009): ``score = sum_r w_r / (k + rank_r)``.

    Only ranks matter, so retrievers with incomparable scores (cosine, BM25) combine
    fairly. A larger ``k`` flattens the advantage of the very top ranks.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    first, found_by = _collect(rankings)
    scores = {
        key: sum((weights or {}).get(name, 1.0) / (k + rank) for name, rank in ranks.items())
        for key, ranks in found_by.items()
    }
    return _fused(scores, first, found_by, limit)


def normalize_scores(scores: Sequence[float], method: Normalization = "minmax") -> list[float]:
    """Scores mapped onto a common scale: ``minmax`` to [0, 1], ``zscore`` to mean 0 / sd 1."""
    if method == "none" or not scores:
        return list(scores)
    if method == "minmax":
        low, high = min(scores), max(scores)
        if high == low:
            return [1.0 for _ in scores]
        return [(s - low) / (high - low) for s in scores]
    if method == "zscore":
        mean = sum(scores) / len(scores)
        sd = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
        if sd == 0:
            return [0.0 for _ in scores]
        return [(s - mean) / sd for s in scores]
    raise ValueError(f"unknown normalization {method!r}")


def weighted_score_fusion(
    rankings: Mapping[str, Sequence[Hit]],
    *,
    weights: Mapping[str, float] | None = None,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> list[Hit]:
    """Weighted sum of per-retriever normalised scores (a hit a retriever missed scores 0 there).

    ``weights`` default to 1 for every retriever; ``{"dense": 0.7, "bm25": 0.3}`` is the
    classic convex combination.
    """
    first, found_by = _collect(rankings)
    scores: dict[str, float] = dict.fromkeys(first, 0.0)
    for name, hits in rankings.items():
        weight = (weights or {}).get(name, 1.0)
        seen: set[str] = set()
        for hit, norm in zip(hits, normalize_scores([h.score for h in hits], normalization), strict=True):
            if hit.id not in seen:
                seen.add(hit.id)
                scores[hit.id] += weight * norm
    return _fused(scores, first, found_by, limit)

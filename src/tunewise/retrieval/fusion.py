"""Fusing ranked lists from several retrievers: reciprocal rank and weighted scores.

Pure functions over ``{retriever name: ranked hits}``. Every fused [`Hit`][tunewise.Hit]
records in ``found_by`` which retrievers returned it and at what (1-based) rank, and in
``scores`` the raw score each of them gave it (fused scores are rescaled per query; a
member's raw score, such as a cosine, keeps its absolute meaning). The
``*_scores`` functions do the arithmetic on ``(id, score)`` pairs alone, so callers on a
hot path can fuse before building any ``Hit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from tunewise.interfaces.retriever import Hit

Normalization = Literal["minmax", "zscore", "none"]
Ranking = Sequence[tuple[str, float]]
"""``(id, score)`` pairs, best first."""
Fused = list[tuple[str, float, dict[str, int]]]
"""``(id, fused score, {retriever: rank})``, best first."""


def _ranks(rankings: Mapping[str, Ranking]) -> dict[str, dict[str, int]]:
    found_by: dict[str, dict[str, int]] = {}
    for name, ranking in rankings.items():
        for position, (key, _) in enumerate(ranking, start=1):
            found_by.setdefault(key, {}).setdefault(name, position)
    return found_by


def _order(scores: dict[str, float], found_by: dict[str, dict[str, int]], limit: int | None) -> Fused:
    # Ties break towards the better best rank, then the id, so results are deterministic.
    order = sorted(scores, key=lambda key: (-scores[key], min(found_by[key].values()), key))
    if limit is not None:
        order = order[:limit]
    return [(key, scores[key], found_by[key]) for key in order]


def rrf_scores(
    rankings: Mapping[str, Ranking],
    *,
    k: float = 60.0,
    weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> Fused:
    """Reciprocal rank fusion on ``(id, score)`` rankings (scores are ignored)."""
    if k < 0:
        raise ValueError("k must be >= 0")
    found_by = _ranks(rankings)
    w = weights or {}
    scores = {
        key: sum(w.get(name, 1.0) / (k + rank) for name, rank in ranks.items()) for key, ranks in found_by.items()
    }
    return _order(scores, found_by, limit)


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


def weighted_scores(
    rankings: Mapping[str, Ranking],
    *,
    weights: Mapping[str, float] | None = None,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> Fused:
    """Weighted sum of per-retriever normalised scores on ``(id, score)`` rankings."""
    found_by = _ranks(rankings)
    scores: dict[str, float] = dict.fromkeys(found_by, 0.0)
    w = weights or {}
    for name, ranking in rankings.items():
        weight = w.get(name, 1.0)
        seen: set[str] = set()
        normalized = normalize_scores([score for _, score in ranking], normalization)
        for (key, _), norm in zip(ranking, normalized, strict=True):
            if key not in seen:
                seen.add(key)
                scores[key] += weight * norm
    return _order(scores, found_by, limit)


def _as_hits(fused: Fused, rankings: Mapping[str, Sequence[Hit]]) -> list[Hit]:
    first: dict[str, Hit] = {}
    raw: dict[str, dict[str, float]] = {}
    for name, hits in rankings.items():
        for hit in hits:
            first.setdefault(hit.id, hit)
            raw.setdefault(hit.id, {}).setdefault(name, hit.score)
    out = []
    for rank, (key, score, found_by) in enumerate(fused, start=1):
        hit = first[key]
        out.append(
            Hit.model_construct(
                id=hit.id,
                document=hit.document,
                score=score,
                source=hit.source,
                rank=rank,
                metadata=hit.metadata,
                found_by=found_by,
                scores=raw[key],
            )
        )
    return out


def _pairs(rankings: Mapping[str, Sequence[Hit]]) -> dict[str, Ranking]:
    return {name: [(h.id, h.score) for h in hits] for name, hits in rankings.items()}


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
    return _as_hits(rrf_scores(_pairs(rankings), k=k, weights=weights, limit=limit), rankings)


def weighted_score_fusion(
    rankings: Mapping[str, Sequence[Hit]],
    *,
    weights: Mapping[str, float] | None = None,
    normalization: Normalization = "minmax",
    limit: int | None = None,
) -> list[Hit]:
    """Weighted sum of per-retriever normalised scores (a hit a retriever missed scores 0 there).

    ``weights`` default to 1 for every retriever; ``{"dense": 0.7, "bm25": 0.3}`` is the
    classic convex combination. With ``minmax`` this is "relative score fusion".
    """
    fused = weighted_scores(_pairs(rankings), weights=weights, normalization=normalization, limit=limit)
    return _as_hits(fused, rankings)

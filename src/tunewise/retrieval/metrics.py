"""Ranking metrics as pure functions: nDCG@k, recall@k, precision@k, reciprocal rank.

``ranked`` is the retrieved ids best first; ``relevant`` is either a set of relevant
ids (binary relevance) or a mapping of id -> graded gain. Repeated ids in ``ranked``
count once, at their first position.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

Relevance = Mapping[str, float] | Collection[str]


def _gains(relevant: Relevance) -> dict[str, float]:
    if isinstance(relevant, Mapping):
        return {key: float(value) for key, value in relevant.items() if value > 0}
    return dict.fromkeys(relevant, 1.0)


def _unique(ranked: Sequence[str], k: int) -> list[str]:
    if k < 1:
        raise ValueError("k must be at least 1")
    seen: dict[str, None] = {}
    for item in ranked:
        if item not in seen:
            seen[item] = None
            if len(seen) == k:
                break
    return list(seen)


def dcg_at_k(ranked: Sequence[str], relevant: Relevance, k: int) -> float:
    """Discounted cumulative gain: ``sum gain_i / log2(i + 1)`` over the top ``k``."""
    gains = _gains(relevant)
    return sum(gains.get(item, 0.0) / math.log2(i + 1) for i, item in enumerate(_unique(ranked, k), start=1))


def ndcg_at_k(ranked: Sequence[str], relevant: Relevance, k: int = 10) -> float:
    """DCG divided by the best possible DCG; 0.0 when nothing is relevant."""
    gains = _gains(relevant)
    ideal = sorted(gains.values(), reverse=True)[:k]
    best = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    return dcg_at_k(ranked, gains, k) / best if best > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Relevance, k: int = 10) -> float:
    """Share of the relevant ids found in the top ``k``; 0.0 when nothing is relevant."""
    gains = _gains(relevant)
    if not gains:
        return 0.0
    return sum(1 for item in _unique(ranked, k) if item in gains) / len(gains)


def precision_at_k(ranked: Sequence[str], relevant: Relevance, k: int = 10) -> float:
    """Share of the top ``k`` slots holding a relevant id."""
    gains = _gains(relevant)
    return sum(1 for item in _unique(ranked, k) if item in gains) / k


def reciprocal_rank(ranked: Sequence[str], relevant: Relevance, k: int | None = None) -> float:
    """1 / rank of the first relevant id (0.0 if none within ``k``)."""
    gains = _gains(relevant)
    for i, item in enumerate(_unique(ranked, k or max(len(ranked), 1)), start=1):
        if item in gains:
            return 1.0 / i
    return 0.0


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0

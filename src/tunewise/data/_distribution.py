"""Exact summary statistics of integer counts in memory bounded by the number of distinct values.

Token counts are integers with a few thousand distinct values at most, so a histogram
gives exact quantiles of a 10-million-example file without keeping every count.
Quantiles interpolate linearly between order statistics, as ``numpy.quantile`` does by
default, so numbers match the cookbook's ``np.quantile`` output.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Summary:
    """min, max, mean, median, p10 and p90 of a set of counts (all ``0`` when empty, with ``n == 0``)."""

    n: int
    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "median": self.median,
            "p10": self.p10,
            "p90": self.p90,
        }


class Histogram:
    """Streaming counts of non-negative integers; `summary()` is exact."""

    def __init__(self) -> None:
        self._counts: Counter[int] = Counter()
        self.n = 0
        self.total = 0

    def add(self, value: int) -> None:
        self._counts[value] += 1
        self.n += 1
        self.total += value

    def _order_statistic(self, keys: list[int], cumulative: list[int], k: int) -> int:
        """The k-th smallest value (0-based)."""
        lo, hi = 0, len(keys) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cumulative[mid] > k:
                hi = mid
            else:
                lo = mid + 1
        return keys[lo]

    def quantile(self, q: float) -> float:
        """The q-quantile with linear interpolation (numpy's default method)."""
        if self.n == 0:
            return 0.0
        keys = sorted(self._counts)
        cumulative = []
        running = 0
        for key in keys:
            running += self._counts[key]
            cumulative.append(running)
        position = (self.n - 1) * q
        below = math.floor(position)
        low = self._order_statistic(keys, cumulative, below)
        if below == position:
            return float(low)
        high = self._order_statistic(keys, cumulative, below + 1)
        return low + (high - low) * (position - below)

    def summary(self) -> Summary:
        if self.n == 0:
            return Summary(0, 0, 0, 0.0, 0.0, 0.0, 0.0)
        return Summary(
            n=self.n,
            min=min(self._counts),
            max=max(self._counts),
            mean=self.total / self.n,
            median=self.quantile(0.5),
            p10=self.quantile(0.1),
            p90=self.quantile(0.9),
        )

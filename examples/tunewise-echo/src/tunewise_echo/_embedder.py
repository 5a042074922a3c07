"""``CharacterEmbedder``: deterministic vectors from character counts, no model needed."""

from __future__ import annotations

import math
from collections.abc import Sequence


class CharacterEmbedder:
    """Counts each character into one of ``dimension`` buckets, then L2-normalises.

    Texts that share letters are close: crude, but deterministic across processes and
    machines, which is what an example (and a test) needs.
    """

    def __init__(self, name: str = "chars", dimension: int = 64) -> None:
        self.name = name
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self._dimension
            for char in text.lower():
                vector[ord(char) % self._dimension] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return vectors

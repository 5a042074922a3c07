"""The ``hashing`` embedder: instant, offline, lexical vectors with no model to load."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from tunewise.interfaces.embedder import check_texts


class HashingEmbedder:
    """A deterministic bag-of-words embedder (feature hashing, L2-normalised).

    Texts sharing words are close; no model, no download, no randomness. Good for tests,
    examples and lexical few-shot selection; `embedder = "hashing"` (or `"hashing-N"`) in a
    config builds one.

    Args:
        dimension: the length of each vector (a positive integer).
    """

    def __init__(self, dimension: int = 64) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
            raise ValueError(f"HashingEmbedder: dimension must be a positive integer, got {dimension!r}")
        self.name = f"hashing-{dimension}"
        self._dimension = dimension

    @property
    def dimension(self) -> int:
        """The length of each vector."""
        return self._dimension

    def embed_one(self, text: str) -> list[float]:
        """The vector of one text."""
        vector = [0.0] * self._dimension
        for word in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self._dimension
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        check_texts(texts)
        return [self.embed_one(t) for t in texts]

"""``Embedder``: text in, vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``name`` identifies the model (``sentence-transformers:all-MiniLM-L6-v2``); vector
    stores record it so a collection is never queried with another embedder's vectors.
    """

    name: str

    @property
    def dimension(self) -> int | None:
        """Length of each vector, where known before the first call."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...

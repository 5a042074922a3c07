"""``Embedder``: text in, vectors out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tunewise._errors import DataError


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


def check_texts(texts: Sequence[str]) -> None:
    """A one-line [`DataError`][tunewise.DataError] unless ``texts`` is a sequence of strings (not one string).

    Every embedder calls it first: ``embed("one text")`` would otherwise embed each character.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise DataError(f"embed() takes a list of texts, not {type(texts).__name__}", field="texts")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"embed() takes texts (str), got {type(text).__name__}", field=f"texts[{index}]")

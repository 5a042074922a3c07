"""``Retriever``: a query in, ranked passages out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Hit(BaseModel):
    """One retrieved passage.

    ``rank`` is 1-based. ``found_by`` maps each retriever that found the passage to the
    rank it gave it, and ``scores`` to its own raw score (hybrid fusion fills in several).
    ``score`` is what the ranking used: a fused score, rescaled per query, is only
    comparable within one result list; ``scores["dense"]`` (a cosine) is absolute.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    document: str
    score: float
    source: str
    rank: int = Field(ge=1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    found_by: dict[str, int] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages that answer a query: dense, BM25, hybrid, or your own."""

    name: str

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The ``k`` best passages for ``query``, optionally filtered by metadata."""
        ...

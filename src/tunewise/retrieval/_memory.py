"""The ``memory`` retriever: exact, in-memory cosine retrieval over any [`Embedder`][tunewise.Embedder].

Real retrieval (cosine similarity, exact top-k, metadata filters), small enough for tests,
examples and knowledge bases of a few thousand passages; `Index` is the persistent and
hybrid one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from tunewise.interfaces.retriever import Hit

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tunewise.interfaces.embedder import Embedder


class InMemoryRetriever:
    """Cosine similarity between the query and every passage; scores lie in [-1, 1].

    ``documents`` are strings or mappings with ``text`` (or ``document``) and optional
    ``id``, ``source`` and ``metadata``. Passages are embedded on the first query.
    """

    def __init__(
        self,
        documents: Sequence[str | Mapping[str, Any]],
        embedder: Embedder,
        *,
        name: str = "memory",
    ) -> None:
        self.name = name
        self.embedder = embedder
        self._docs: list[tuple[str, str, str, dict[str, Any]]] = []
        for i, doc in enumerate(documents, 1):
            if isinstance(doc, str):
                self._docs.append((f"doc-{i}", doc, f"doc-{i}", {}))
                continue
            text = doc.get("text", doc.get("document"))
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"document {i} needs a non-empty 'text'")
            doc_id = str(doc.get("id", f"doc-{i}"))
            self._docs.append((doc_id, text, str(doc.get("source", doc_id)), dict(doc.get("metadata") or {})))
        self._matrix: NDArray[np.float64] | None = None
        self._lock = anyio.Lock()

    def __len__(self) -> int:
        return len(self._docs)

    async def _vectors(self) -> NDArray[np.float64]:
        import numpy as np

        async with self._lock:
            if self._matrix is None:
                matrix = np.asarray(await self.embedder.embed([d[1] for d in self._docs]), dtype=np.float64)
                norms = np.linalg.norm(matrix, axis=1, keepdims=True)
                self._matrix = matrix / np.where(norms == 0, 1.0, norms)
        return self._matrix

    async def retrieve(self, query: str, k: int = 5, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The ``k`` most similar passages whose metadata has every ``where`` key-value."""
        import numpy as np

        if not self._docs:
            return []
        matrix = await self._vectors()
        (q,) = await self.embedder.embed([query])
        vector = np.asarray(q, dtype=np.float64)
        vector = vector / (np.linalg.norm(vector) or 1.0)
        scores = matrix @ vector
        allowed = [
            i
            for i, (_, _, _, meta) in enumerate(self._docs)
            if not where or all(meta.get(key) == value for key, value in where.items())
        ]
        ranked = sorted(allowed, key=lambda i: (-scores[i], i))[:k]
        return [
            Hit(
                id=self._docs[i][0],
                document=self._docs[i][1],
                source=self._docs[i][2],
                metadata=self._docs[i][3],
                score=float(scores[i]),
                rank=rank,
                found_by={self.name: rank},
                scores={self.name: float(scores[i])},
            )
            for rank, i in enumerate(ranked, 1)
        ]

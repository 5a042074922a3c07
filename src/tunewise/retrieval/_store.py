"""The Chroma vector store: embedded (``PersistentClient``) or a server (``HttpClient``).

Both go through the same code. Vectors are always computed by a tunewise
:class:`~tunewise.Embedder` and passed in; Chroma's own default embedding function
(which downloads a model) is never used. The collection's metadata records the
embedder's name and dimension, and a *generation* stamp that the BM25 side compares
against to know whether it is in step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder

EMBEDDER_KEY = "tunewise:embedder"
DIMENSION_KEY = "tunewise:dimension"
GENERATION_KEY = "tunewise:generation"


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("http://", "https://"))


def connect(location: str | Path) -> Any:
    """A Chroma client for a directory (embedded, persistent) or an ``http(s)://host:port`` URL."""
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError:
        raise ConfigError("retrieval needs the 'rag' extra: pip install 'tunewise[rag]'") from None
    settings = Settings(anonymized_telemetry=False)
    if is_url(location):
        url = urlparse(str(location))
        if not url.hostname:
            raise ConfigError(f"Chroma URL {location!r} has no host")
        ssl = url.scheme == "https"
        port = url.port or (443 if ssl else 8000)
        try:
            return chromadb.HttpClient(host=url.hostname, port=port, ssl=ssl, settings=settings)
        except Exception as exc:  # chromadb raises ValueError/ConnectError variants for an unreachable server
            raise ConfigError(f"cannot reach the Chroma server at {location}: {str(exc).splitlines()[0]}") from None
    path = Path(location).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class ChromaStore:
    """One Chroma collection used as a vector store of chunks (cosine space)."""

    def __init__(self, client: Any, name: str, collection: Any | None) -> None:
        self.client = client
        self.name = name
        self._collection = collection

    @classmethod
    def open(cls, location: str | Path, name: str) -> ChromaStore:
        """The collection ``name`` at ``location``; it is created on first :meth:`create`."""
        client = connect(location)
        return cls(client, name, cls._get(client, name))

    @staticmethod
    def _get(client: Any, name: str) -> Any | None:
        from chromadb.errors import NotFoundError

        try:
            return client.get_collection(name, embedding_function=None)
        except NotFoundError:
            return None
        except ValueError as exc:  # older servers report a missing collection as ValueError
            if "does not exist" in str(exc):
                return None
            raise

    def reload(self) -> None:
        """Fetch the collection again (its metadata may have been changed by another client)."""
        self._collection = self._get(self.client, self.name)

    @property
    def exists(self) -> bool:
        return self._collection is not None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            raise ConfigError(f"collection {self.name!r} does not exist yet; add documents first")
        return self._collection

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._collection.metadata or {}) if self._collection is not None else {}

    def create(self, embedder_name: str, dimension: int) -> None:
        """Create the collection, recording the embedder that will fill it."""
        if self._collection is not None:
            return
        self._collection = self.client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={EMBEDDER_KEY: embedder_name, DIMENSION_KEY: dimension},
            embedding_function=None,
        )

    @property
    def embedder_name(self) -> str | None:
        value = self.metadata.get(EMBEDDER_KEY)
        return str(value) if value is not None else None

    @property
    def dimension(self) -> int | None:
        value = self.metadata.get(DIMENSION_KEY)
        return int(value) if value is not None else None

    @property
    def generation(self) -> str | None:
        value = self.metadata.get(GENERATION_KEY)
        return str(value) if value is not None else None

    def set_generation(self, generation: str) -> None:
        # Chroma's modify() replaces the whole metadata, so the embedder keys are rewritten too.
        self.collection.modify(metadata={**self.metadata, GENERATION_KEY: generation})

    def count(self) -> int:
        return int(self._collection.count()) if self._collection is not None else 0

    def batch_size(self) -> int:
        return int(self.client.get_max_batch_size())

    def upsert(
        self,
        ids: Sequence[str],
        embeddings: Any,
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        step = self.batch_size()
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=list(ids[i : i + step]),
                embeddings=embeddings[i : i + step],
                documents=list(documents[i : i + step]),
                metadatas=[dict(m) for m in metadatas[i : i + step]],
            )

    def ids_where(self, where: Mapping[str, Any]) -> list[str]:
        if self._collection is None:
            return []
        return list(self._collection.get(where=dict(where), include=[])["ids"])

    def delete(self, ids: Sequence[str]) -> None:
        step = self.batch_size()
        for i in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[i : i + step]))

    def scan(self, page: int = 5000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every (id, document, metadata) in the collection, page by page."""
        if self._collection is None:
            return
        offset = 0
        while True:
            got = self._collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            for i, chunk_id in enumerate(ids):
                yield chunk_id, got["documents"][i] or "", dict(got["metadatas"][i] or {})
            offset += len(ids)

    def query(
        self, embedding: Sequence[float] | Any, k: int, where: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, dict[str, Any], float]]:
        """``(id, document, metadata, cosine distance)`` of the ``k`` nearest chunks."""
        if self._collection is None or k < 1:
            return []
        result = self._collection.query(
            query_embeddings=[embedding],
            n_results=k,
            where=dict(where) if where else None,
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = result["documents"][0]
        metas = result["metadatas"][0]
        dists = result["distances"][0]
        return [(ids[i], docs[i] or "", dict(metas[i] or {}), float(dists[i])) for i in range(len(ids))]

    def drop(self) -> None:
        """Delete the whole collection."""
        if self._collection is not None:
            self.client.delete_collection(self.name)
            self._collection = None


def check_embedder(store: ChromaStore, embedder: Embedder) -> None:
    """A one-line ConfigError if ``store`` was built by another embedder than ``embedder``."""
    recorded = store.embedder_name
    if recorded is None:
        return
    dims = store.dimension
    mine = embedder.dimension
    if recorded != embedder.name or (dims is not None and mine is not None and dims != mine):
        raise ConfigError(
            f"collection {store.name!r} was built with embedder {recorded} ({dims} dimensions); "
            f"it cannot be used with {embedder.name} ({mine if mine is not None else '?'} dimensions): "
            "open it without an embedder to use the recorded one, or use another collection"
        )

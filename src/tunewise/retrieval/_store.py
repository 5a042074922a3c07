"""The Chroma vector store: embedded (``PersistentClient``) or a server (``HttpClient``).

Both go through the same code. Vectors are always computed by a tunewise
[`Embedder`][tunewise.Embedder] and passed in; Chroma's own default embedding function
(which downloads a model) is never used. The collection's metadata records the
embedder's name and dimension, and a *generation* stamp that the BM25 side compares
against to know whether it is in step.

An embedded directory gets one client per process, shared by every store on it (Chroma's
advice). chromadb keeps the vectors of a directory in memory per process, so dense search
never sees vectors another process wrote after they were loaded;
[`ChromaStore.reload()`][tunewise.retrieval._store.ChromaStore.reload] notices from the generation stamp and reopens
that client (see `Embedded`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder

EMBEDDER_KEY = "tunewise:embedder"
DIMENSION_KEY = "tunewise:dimension"
GENERATION_KEY = "tunewise:generation"

log = logging.getLogger("tunewise.retrieval")
T = TypeVar("T")


def is_url(location: str | Path) -> bool:
    return isinstance(location, str) and location.startswith(("http://", "https://"))


def _settings() -> Any:
    try:
        from chromadb.config import Settings
    except ImportError:
        raise ConfigError("retrieval needs the 'rag' extra: pip install 'tunewise[rag]'") from None
    return Settings(anonymized_telemetry=False)


def connect(location: str | Path) -> Any:
    """A Chroma client for a directory (embedded, persistent) or an ``http(s)://host:port`` URL."""
    settings = _settings()
    import chromadb

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


class Embedded:
    """This process's client of an embedded Chroma directory, shared by every store on it.

    chromadb caches one ``System`` per directory per process, and with it each collection's
    vector index as loaded from disk; a new client of the same directory gets the same
    cache. Writes by another process reach the SQLite side (``get``, ``count``, metadata) but
    not that in-memory index, so dense search misses them. `reopen()` closes the client
    (the last one closed stops the System) and opens a fresh one, which loads the vectors
    again. ``seen`` holds, per collection, the generation stamp read before this client
    first used the collection (or the one this process last wrote): a different stamp in
    the collection's metadata means another process wrote since.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.client = connect(path)
        self.epoch = 0
        self.seen: dict[str, str | None] = {}
        self.lock = threading.Lock()

    def reopen(self) -> bool:
        """Replace the client by a fresh one.

        False (and a warning) if chromadb kept the old System because a client outside tunewise still
        holds this directory.
        """
        with self.lock:
            old = self.client
            if not hasattr(old, "close"):  # chromadb before 1.5 cannot release a System
                log.warning(
                    "chromadb %s cannot reopen %s, so dense search keeps its old view of vectors written by "
                    "other processes; upgrade chromadb to 1.5 or later, or use a Chroma server",
                    _chromadb_version(),
                    self.path,
                )
                self.seen.clear()  # warn once per change, not at every check
                return False
            old.close()
            self.client = connect(self.path)
            self.seen.clear()
            self.epoch += 1
            fresh = getattr(old, "_server", None) is not getattr(self.client, "_server", None)
        if not fresh:
            log.warning(
                "another chromadb client in this process holds %s, so dense search keeps its old view of "
                "vectors written by other processes; close that client, or use a Chroma server",
                self.path,
            )
        return fresh


def _chromadb_version() -> str:
    import chromadb

    return str(getattr(chromadb, "__version__", "?"))


_EMBEDDED: dict[Path, Embedded] = {}
_EMBEDDED_LOCK = threading.Lock()


def embedded(location: str | Path) -> Embedded:
    """The process's shared `Embedded` client of a directory."""
    path = Path(location).expanduser().resolve()
    with _EMBEDDED_LOCK:
        if path not in _EMBEDDED:
            _EMBEDDED[path] = Embedded(path)
        return _EMBEDDED[path]


class ChromaStore:
    """One Chroma collection used as a vector store of chunks (cosine space)."""

    def __init__(self, client: Any, name: str, collection: Any | None, *, shared: Embedded | None = None) -> None:
        self._client = client
        self.name = name
        self._collection = collection
        self._shared = shared
        self._epoch = shared.epoch if shared is not None else 0

    @classmethod
    def open(cls, location: str | Path, name: str) -> ChromaStore:
        """The collection ``name`` at ``location``; it is created on first `create()`."""
        if is_url(location):
            client = connect(location)
            return cls(client, name, cls._get(client, name))
        shared = embedded(location)
        store = cls(shared.client, name, None, shared=shared)
        store.reload()
        return store

    @property
    def client(self) -> Any:
        return self._shared.client if self._shared is not None else self._client

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

    def _fetch(self) -> None:
        shared = self._shared
        if shared is None:
            self._collection = self._get(self._client, self.name)
            return
        with shared.lock:
            self._epoch = shared.epoch
            self._collection = self._get(shared.client, self.name)
            if self.name not in shared.seen:
                # Read before any query on this client loads the vectors, so they are at least this new.
                shared.seen[self.name] = self.generation

    def _current(self) -> Any | None:
        """The collection, fetched again if the shared client was reopened since."""
        if self._shared is not None and self._epoch != self._shared.epoch:
            self._fetch()
        return self._collection

    def _use(self, action: Callable[[Any], T]) -> T | None:
        """``action(collection)``, run again once if the shared client was reopened while it ran."""
        collection = self._current()
        if collection is None:
            return None
        epoch = self._epoch
        try:
            return action(collection)
        except Exception:
            if self._shared is None or self._shared.epoch == epoch:
                raise
            collection = self._current()
            return action(collection) if collection is not None else None

    def reload(self) -> bool:
        """Fetch the collection again (another client may have changed its metadata or dropped it).

        For an embedded directory, when the generation stamp shows that another process
        wrote since this process loaded the collection, the shared client is reopened so
        dense search sees the new vectors; True when that happened.
        """
        self._fetch()
        shared = self._shared
        if shared is None or self._collection is None:
            return False
        if shared.seen.get(self.name) == self.generation:
            return False
        fresh = shared.reopen()
        self._fetch()
        return fresh

    @property
    def exists(self) -> bool:
        return self._current() is not None

    @property
    def collection(self) -> Any:
        collection = self._current()
        if collection is None:
            raise ConfigError(f"collection {self.name!r} does not exist yet; add documents first")
        return collection

    @property
    def metadata(self) -> dict[str, Any]:
        collection = self._current()
        return dict(collection.metadata or {}) if collection is not None else {}

    def create(self, embedder_name: str, dimension: int) -> None:
        """Create the collection, recording the embedder that will fill it."""
        if self._current() is not None:
            return
        self._collection = self.client.get_or_create_collection(
            self.name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={EMBEDDER_KEY: embedder_name, DIMENSION_KEY: dimension},
            embedding_function=None,
        )
        if self._shared is not None:
            self._shared.seen[self.name] = self.generation

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
        if self._shared is not None:
            self._shared.seen[self.name] = generation  # this process's own writes are in its view

    def count(self) -> int:
        return int(self._use(lambda c: c.count()) or 0)

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
        collection = self._current()
        if collection is None:
            return []
        from tunewise.retrieval._filters import check_where

        return list(collection.get(where=check_where(where), include=[])["ids"])

    def delete(self, ids: Sequence[str]) -> None:
        step = self.batch_size()
        for i in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[i : i + step]))

    def scan(self, page: int = 5000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every (id, document, metadata) in the collection, page by page."""
        collection = self._current()
        if collection is None:
            return
        offset = 0
        while True:
            got = collection.get(include=["documents", "metadatas"], limit=page, offset=offset)
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
        from tunewise.retrieval._filters import check_where

        checked = check_where(where)
        if k < 1:
            return []
        result = self._use(
            lambda c: c.query(
                query_embeddings=[embedding],
                n_results=k,
                where=checked,
                include=["documents", "metadatas", "distances"],
            )
        )
        if result is None:
            return []
        ids = result["ids"][0]
        docs = result["documents"][0]
        metas = result["metadatas"][0]
        dists = result["distances"][0]
        return [(ids[i], docs[i] or "", dict(metas[i] or {}), float(dists[i])) for i in range(len(ids))]

    def drop(self) -> None:
        """Delete the whole collection."""
        if self._current() is not None:
            self.client.delete_collection(self.name)
            self._collection = None
            if self._shared is not None:
                self._shared.seen.pop(self.name, None)


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

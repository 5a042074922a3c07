"""``Index``: a Chroma collection and its BM25 twin behind one object.

index = Index.open("./kb", "support")          # or Index.open("http://127.0.0.1:8000", "support")
await index.add(["docs/"])
hits = await index.retriever("hybrid").retrieve("reset the device", k=5)
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import anyio

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder
from tunewise.interfaces.retriever import Hit, Retriever
from tunewise.retrieval._bm25 import BM25Index
from tunewise.retrieval._chunking import Chunker
from tunewise.retrieval._documents import FieldMap
from tunewise.retrieval._embedders import resolve_embedder
from tunewise.retrieval._ingest import IngestReport, ingest, rebuild_bm25, remove
from tunewise.retrieval._retrievers import BM25Retriever, DenseRetriever, Fusion, HybridRetriever
from tunewise.retrieval._store import ChromaStore, check_embedder, is_url
from tunewise.retrieval.fusion import Normalization

Mode = Literal["hybrid", "dense", "bm25"]
DEFAULT_WEIGHTS: Mapping[str, float] = {"dense": 0.75, "bm25": 0.25}
_COLLECTION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,510}[a-z0-9]$", re.IGNORECASE)


@dataclass(frozen=True)
class IndexStats:
    """What an index holds."""

    collection: str
    location: str
    embedder: str | None
    dimension: int | None
    chunks: int
    files: int
    bm25_chunks: int
    in_sync: bool


def default_location() -> Path:
    """``<settings.home>/indexes``, where indexes live unless told otherwise."""
    from tunewise._settings import load_settings

    return load_settings().home / "indexes"


class Index:
    """A searchable knowledge base: vectors in Chroma, terms in BM25, kept in step.

    Open one with [`open()`][tunewise.retrieval._index.Index.open]; add files with
    [`add()`][tunewise.retrieval._index.Index.add]; search through
    [`retriever()`][tunewise.retrieval._index.Index.retriever] (``"hybrid"``, ``"dense"`` or ``"bm25"``).
    """

    def __init__(
        self,
        store: ChromaStore,
        bm25: BM25Index,
        embedder: Embedder,
        location: str,
        *,
        refresh_every: float | None = None,
    ) -> None:
        if refresh_every is not None and refresh_every < 0:
            raise ConfigError(f"refresh_every must be at least 0 seconds, got {refresh_every}")
        self.store = store
        self.bm25 = bm25
        self.embedder = embedder
        self.location = location
        self.refresh_every = refresh_every
        self._lock = anyio.Lock()
        self._checked = time.monotonic()

    def __repr__(self) -> str:
        return f"Index({self.location!r}, {self.store.name!r}, embedder={self.embedder.name!r})"

    @classmethod
    def open(
        cls,
        location: str | Path | None = None,
        collection: str = "default",
        *,
        embedder: Embedder | str | None = None,
        bm25_path: str | Path | None = None,
        refresh_every: float | None = None,
        create: bool = True,
    ) -> Index:
        """Open (or prepare to create) ``collection``.

        Args:
            location: a directory for an embedded index (default ``<home>/indexes``), or
                the ``http://host:port`` URL of a Chroma server.
            collection: the collection name (3-512 characters: letters, digits, ``._-``).
            embedder: an [`Embedder`][tunewise.Embedder] or a spec such as ``sentence-transformers:all-MiniLM-L6-v2``;
                default: the one the collection was built with, else MiniLM.
            bm25_path: where the BM25 side lives; default next to the vectors for a
                directory, ``<home>/indexes/servers/<host>-<port>`` for a server.
            refresh_every: seconds; when set, this index's retrievers
                [`refresh()`][tunewise.retrieval._index.Index.refresh] before a search once that long has passed since
                the last check (0: before every search), so a long-lived process sees what other processes add.
            create: ``False`` to open only an index and collection that exist: a missing one
                raises [`ConfigError`][tunewise.ConfigError] and nothing is created on disk (for reading,
                listing and deleting; a typo in a path must not make an empty index).
        """
        if not _COLLECTION_NAME.match(collection) or ".." in collection:
            raise ConfigError(
                f"collection name {collection!r}: use 3-512 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        # An embedder the caller names is checked before anything is created on disk.
        chosen = resolve_embedder(embedder) if embedder is not None else None
        if location is None:
            location = default_location()
        if is_url(location):
            url = urlparse(str(location))
            chroma_location: str | Path = str(location)
            bm25_root = (
                Path(bm25_path) if bm25_path else default_location() / "servers" / f"{url.hostname}-{url.port or 8000}"
            )
            shown = str(location)
        else:
            root = Path(location).expanduser().resolve()
            chroma_location = root / "chroma"
            bm25_root = Path(bm25_path) if bm25_path else root / "bm25"
            shown = root.as_posix()
            if not create and not (root / "chroma").is_dir():
                raise ConfigError(f"no index at {shown}; create one with 'tunewise index add' (or check the path)")
        store = ChromaStore.open(chroma_location, collection)
        if not create and not store.exists:
            raise ConfigError(f"no collection {collection!r} at {shown}; add documents with 'tunewise index add'")
        recorded = store.embedder_name
        if embedder is None and recorded is not None:
            try:
                resolved = resolve_embedder(recorded)
            except ConfigError:
                raise ConfigError(
                    f"collection {collection!r} was built with embedder {recorded!r}, which cannot be recreated "
                    "from its name; pass the embedder (CLI: --embedder PREFIX:MODEL)"
                ) from None
        else:
            resolved = chosen if chosen is not None else resolve_embedder(None)
        check_embedder(store, resolved)
        bm25 = BM25Index.load(bm25_root / collection)
        index = cls(store, bm25, resolved, shown, refresh_every=refresh_every)
        if not index.in_sync():
            rebuild_bm25(store, bm25)
        return index

    async def refresh(self) -> bool:
        """Catch up with changes another process made to the collection; True if anything was reloaded.

        The collection's generation stamp tells. BM25 is reloaded from what the writer saved
        (or rebuilt from Chroma); an embedded index also reopens its Chroma client, because
        chromadb keeps a directory's vectors in memory and would not see the new ones.
        ``open`` does this once; long-lived processes call it now and then, or open the
        index with ``refresh_every``.
        """
        async with self._lock:
            self._checked = time.monotonic()
            reopened = await anyio.to_thread.run_sync(self.store.reload)
            if self.in_sync():
                return reopened
            if await anyio.to_thread.run_sync(self.bm25.reload) is not None and self.in_sync():
                return True
            await anyio.to_thread.run_sync(rebuild_bm25, self.store, self.bm25)
            return True

    async def refresh_if_due(self) -> None:
        """`refresh()` if ``refresh_every`` is set and that many seconds have passed since the last check."""
        if self.refresh_every is None or time.monotonic() - self._checked < self.refresh_every:
            return
        self._checked = time.monotonic()  # concurrent searches do not queue up behind one refresh
        await self.refresh()

    def in_sync(self) -> bool:
        """Whether the BM25 side was saved from the collection's current generation."""
        if not self.store.exists:
            return len(self.bm25) == 0
        generation = self.store.generation
        return (
            generation is not None
            and not generation.startswith("pending-")
            and self.bm25.generation == generation
            and len(self.bm25) == self.store.count()
        )

    async def add(
        self,
        paths: str | Path | Sequence[str | Path],
        *,
        fields: FieldMap | None = None,
        chunker: Chunker | None = None,
        prune: bool = False,
        batch_size: int = 256,
        progress: bool = False,
    ) -> IngestReport:
        """Ingest files and directories; re-running on unchanged files changes nothing.

        ``prune=True`` also deletes chunks of files that disappeared from the given
        directories. ``fields`` maps JSONL/CSV records to text, id and metadata.
        """
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        async with self._lock:
            return await ingest(
                self.store,
                self.bm25,
                self.embedder,
                items,
                fields=fields,
                chunker=chunker,
                prune=prune,
                batch_size=batch_size,
                progress=progress,
            )

    async def remove(self, paths: str | Path | Sequence[str | Path]) -> list[str]:
        """Delete the chunks of these files (or of every file under these directories)."""
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        async with self._lock:
            return await remove(self.store, self.bm25, items)

    async def drop(self) -> None:
        """Delete the whole collection and its BM25 index."""
        async with self._lock:
            await anyio.to_thread.run_sync(self.store.drop)
            self.bm25.replace_all([])
            await anyio.to_thread.run_sync(self.bm25.save, "dropped")

    def files(self) -> list[str]:
        """The files that have chunks in the index."""
        return sorted({str(e.metadata.get("path", "")) for e in self.bm25.entries()})

    def retriever(
        self,
        kind: Mode = "hybrid",
        *,
        fusion: Fusion = "weighted",
        rrf_k: float = 60.0,
        weights: Mapping[str, float] | None = None,
        normalization: Normalization = "minmax",
        candidates: int | None = None,
    ) -> Retriever:
        """A [`Retriever`][tunewise.Retriever] over this index: ``dense``, ``bm25`` or their ``hybrid`` fusion.

        The hybrid default is relative score fusion (min-max normalised scores) weighted
        0.75 dense / 0.25 BM25, the defaults Weaviate ships; ``fusion="rrf"`` gives
        reciprocal rank fusion with constant ``rrf_k``. See docs/retrieval.md for how each
        scores on the labeled set. Its members are named ``"dense"`` and ``"bm25"``, the keys
        of each hit's ``found_by`` and ``scores``.
        """
        before = self.refresh_if_due if self.refresh_every is not None else None
        if kind == "dense":
            return DenseRetriever(self.store, self.embedder, before=before)
        if kind == "bm25":
            return BM25Retriever(self.bm25, before=before)
        if kind == "hybrid":
            return HybridRetriever(
                [DenseRetriever(self.store, self.embedder), BM25Retriever(self.bm25)],
                fusion=fusion,
                rrf_k=rrf_k,
                weights=DEFAULT_WEIGHTS if weights is None and fusion == "weighted" else weights,
                normalization=normalization,
                candidates=candidates,
                before=before,
            )
        raise ConfigError(f"unknown retriever kind {kind!r}; use hybrid, dense or bm25")

    async def retrieve(
        self, query: str, k: int = 5, where: Mapping[str, Any] | None = None, *, mode: Mode = "hybrid"
    ) -> list[Hit]:
        """Shorthand for ``self.retriever(mode).retrieve(query, k, where)``."""
        return await self.retriever(mode).retrieve(query, k, where)

    async def stats(self) -> IndexStats:
        count = await anyio.to_thread.run_sync(self.store.count)
        return IndexStats(
            collection=self.store.name,
            location=self.location,
            embedder=self.store.embedder_name or self.embedder.name,
            dimension=self.store.dimension or self.embedder.dimension,
            chunks=count,
            files=len(self.files()),
            bm25_chunks=len(self.bm25),
            in_sync=self.in_sync(),
        )

"""Ingestion: files -> documents -> chunks -> embeddings -> Chroma + BM25, idempotently.

Chunk ids are content hashes, so the plan is a set difference: chunks whose id is
already stored are skipped, chunks of a file that are no longer produced are deleted,
and nothing else is touched. Chroma is the source of truth; before it is modified the
collection's generation stamp is set to a fresh "pending" value, and only once the BM25
side has been saved does the stamp become final. A process killed half way therefore
leaves a collection without duplicates (ids are deterministic) and a BM25 index that
the next [`Index.open()`][tunewise.retrieval._index.Index.open] sees is stale and rebuilds from Chroma.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tunewise._errors import ConfigError
from tunewise.interfaces.embedder import Embedder
from tunewise.retrieval._bm25 import BM25Index, Entry
from tunewise.retrieval._chunking import Chunk, Chunker, chunk_documents
from tunewise.retrieval._documents import FieldMap, discover_sources, load_file
from tunewise.retrieval._store import ChromaStore, check_embedder

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from rich.progress import Progress


@dataclass
class IngestReport:
    """What an ingest did. ``embedded + unchanged == chunks``."""

    files: int = 0
    documents: int = 0
    chunks: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    removed_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    """Files in the given directories that no loader reads, by extension (``{".pdf": 2}``)."""


@dataclass
class _Plan:
    to_embed: list[Chunk]
    stale: list[str]
    report: IngestReport


def _plan(
    store: ChromaStore,
    bm25: BM25Index,
    paths: Sequence[str | Path],
    fields: FieldMap | None,
    chunker: Chunker | None,
    prune: bool,
) -> _Plan:
    skipped: dict[str, int] = {}
    files = discover_sources(paths, skipped)
    report = IngestReport(files=len(files), skipped=dict(sorted(skipped.items())))
    to_embed: list[Chunk] = []
    stale: list[str] = []
    for file, source in files.items():
        documents = load_file(file, fields, source=source)
        chunks = chunk_documents(documents, chunker)
        report.documents += len(documents)
        report.chunks += len(chunks)
        existing = set(store.ids_where({"path": file.as_posix()}))
        wanted = {c.id for c in chunks}
        to_embed.extend(c for c in chunks if c.id not in existing)
        report.unchanged += len(wanted & existing)
        stale.extend(sorted(existing - wanted))
    if prune:
        present = {f.as_posix() for f in files}
        roots = [Path(p).resolve().as_posix() + "/" for p in paths if Path(p).is_dir()]
        known = {str(e.metadata.get("path", "")) for e in bm25.entries()}
        gone = sorted(p for p in known if p not in present and any(p.startswith(r) for r in roots))
        if gone:
            stale.extend(store.ids_where({"path": {"$in": gone}}))
            report.removed_files = gone
    return _Plan(to_embed, stale, report)


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _batches(items: Sequence[Chunk], size: int) -> Iterable[Sequence[Chunk]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def ingest(
    store: ChromaStore,
    bm25: BM25Index,
    embedder: Embedder,
    paths: Sequence[str | Path],
    *,
    fields: FieldMap | None = None,
    chunker: Chunker | None = None,
    prune: bool = False,
    batch_size: int = 256,
    progress: bool = False,
) -> IngestReport:
    """Bring ``store`` and ``bm25`` in line with the files under ``paths``.

    Embedding of batch *n+1* overlaps with writing batch *n* to Chroma. Bad input raises
    a one-line [`DataError`][tunewise.DataError] before anything is written.
    """
    started = time.perf_counter()
    check_embedder(store, embedder)
    plan = await anyio.to_thread.run_sync(_plan, store, bm25, paths, fields, chunker, prune)
    report = plan.report
    if not plan.to_embed and not plan.stale:
        report.seconds = time.perf_counter() - started
        return report

    generation = uuid.uuid4().hex
    if store.exists:
        await anyio.to_thread.run_sync(store.set_generation, f"pending-{generation}")
    writer = _Writer(store, embedder, generation, report)
    bar = _progress(progress)
    try:
        if bar is not None:
            bar.start()
            writer.advance = functools.partial(bar.advance, bar.add_task("embedding", total=len(plan.to_embed)))
        send, receive = anyio.create_memory_object_stream[tuple[Sequence[Chunk], Any]](1)
        async with anyio.create_task_group() as group:
            group.start_soon(_embed_batches, embedder, plan.to_embed, batch_size, send)
            group.start_soon(writer.write_batches, receive)
        if plan.stale:
            await anyio.to_thread.run_sync(store.delete, plan.stale)
            writer.deleted.extend(plan.stale)
            report.deleted = len(plan.stale)
    finally:
        if bar is not None:
            bar.stop()
        # Whatever reached Chroma is mirrored into BM25, even when stopped by an error.
        with anyio.CancelScope(shield=True):
            if writer.upserted or writer.deleted:
                await anyio.to_thread.run_sync(_sync_bm25, store, bm25, writer.upserted, writer.deleted, generation)
    report.seconds = time.perf_counter() - started
    return report


async def _embed_batches(
    embedder: Embedder, chunks: Sequence[Chunk], size: int, send: MemoryObjectSendStream[tuple[Sequence[Chunk], Any]]
) -> None:
    """Embed ``chunks`` a batch at a time and pass each on with its vectors (the writer runs meanwhile)."""
    async with send:
        for batch in _batches(chunks, size):
            vectors = await embedder.embed([c.text for c in batch])
            if len(vectors) != len(batch):
                raise ConfigError(f"embedder {embedder.name} returned {len(vectors)} vectors for {len(batch)} texts")
            await send.send((batch, vectors))


class _Writer:
    """Writes embedded batches to Chroma and remembers what reached it, for the BM25 mirror."""

    def __init__(self, store: ChromaStore, embedder: Embedder, generation: str, report: IngestReport) -> None:
        self.store, self.embedder, self.generation, self.report = store, embedder, generation, report
        self.upserted: list[Entry] = []
        self.deleted: list[str] = []
        self.advance: Callable[[int], None] | None = None

    async def write_batches(self, receive: MemoryObjectReceiveStream[tuple[Sequence[Chunk], Any]]) -> None:
        store = self.store
        async with receive:
            async for batch, vectors in receive:
                if not store.exists:
                    await anyio.to_thread.run_sync(store.create, self.embedder.name, len(vectors[0]))
                    await anyio.to_thread.run_sync(store.set_generation, f"pending-{self.generation}")
                if store.dimension is not None and len(vectors[0]) != store.dimension:
                    raise ConfigError(
                        f"embedder {self.embedder.name} returned {len(vectors[0])}-dimensional vectors; "
                        f"collection {store.name!r} holds {store.dimension}"
                    )
                texts, metadata = [c.text for c in batch], [c.metadata for c in batch]
                await anyio.to_thread.run_sync(store.upsert, [c.id for c in batch], vectors, texts, metadata)
                self.upserted.extend(Entry(c.id, c.text, c.metadata) for c in batch)
                self.report.embedded += len(batch)
                if self.advance is not None:
                    self.advance(len(batch))


def _sync_bm25(store: ChromaStore, bm25: BM25Index, upserted: list[Entry], deleted: list[str], generation: str) -> None:
    bm25.update(upserted, deleted)
    bm25.save(generation)
    store.set_generation(generation)


def rebuild_bm25(store: ChromaStore, bm25: BM25Index) -> None:
    """Rebuild the BM25 side from everything in Chroma and stamp both with one generation."""
    generation = store.generation
    if generation is None or generation.startswith("pending-"):
        generation = uuid.uuid4().hex
        if store.exists:
            store.set_generation(generation)
    bm25.replace_all(Entry(i, doc, meta) for i, doc, meta in store.scan())
    bm25.save(generation)


async def remove(store: ChromaStore, bm25: BM25Index, paths: Sequence[str | Path]) -> list[str]:
    """Delete every chunk of the given files (or of all files under given directories); returns the files."""
    targets = await anyio.to_thread.run_sync(lambda: [Path(p).expanduser().resolve().as_posix() for p in paths])
    known = sorted({str(e.metadata.get("path", "")) for e in bm25.entries()})
    gone = [k for k in known if any(k == t or k.startswith(t.rstrip("/") + "/") for t in targets)]
    if not gone:
        return []
    ids = await anyio.to_thread.run_sync(store.ids_where, {"path": {"$in": gone}})
    generation = uuid.uuid4().hex
    await anyio.to_thread.run_sync(store.set_generation, f"pending-{generation}")
    await anyio.to_thread.run_sync(store.delete, ids)
    await anyio.to_thread.run_sync(_sync_bm25, store, bm25, [], ids, generation)
    return gone

"""The Index against real Chroma, embedded and as a ``chroma run`` server (see conftest.py).

A fast, deterministic HashingEmbedder drives the plumbing tests; real MiniLM is used
where the model matters (test_quality.py, the mismatch test below).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from tunewise import ConfigError, DataError
from tunewise.retrieval import Index
from tunewise.strategies import build_strategy
from tunewise.testing import HashingEmbedder

from .conftest import Where

pytestmark = pytest.mark.anyio


def open_index(where: Where, embedder: object = None) -> Index:
    return Index.open(where.location, where.collection, embedder=embedder, bm25_path=where.bm25_path)  # type: ignore[arg-type]


def snapshot(index: Index) -> dict[str, tuple[str, str]]:
    """Every stored chunk: id -> (document, path); duplicates would show as a count mismatch."""
    rows = list(index.store.scan())
    assert len(rows) == index.store.count()
    return {i: (doc, meta["path"]) for i, doc, meta in rows}


async def test_add_is_idempotent_and_searchable(where: Where, corpus: Path) -> None:
    index = open_index(where, HashingEmbedder(128))
    first = await index.add(corpus)
    assert (first.files, first.chunks, first.embedded, first.unchanged) == (45, 45, 45, 0)
    before = snapshot(index)
    second = await index.add(corpus)
    assert (second.embedded, second.unchanged, second.deleted) == (0, 45, 0)
    assert snapshot(index) == before
    stats = await index.stats()
    assert (stats.chunks, stats.files, stats.bm25_chunks, stats.in_sync) == (45, 45, 45, True)
    assert stats.embedder == "hashing-128" and stats.dimension == 128
    hits = await index.retriever("hybrid").retrieve("E47 low voltage R wire", k=3)
    assert Path(hits[0].source).stem == "error-e47"
    assert hits[0].found_by == {"dense": 1, "bm25": 1}
    assert [h.rank for h in hits] == [1, 2, 3]
    with pytest.raises(ConfigError, match="built with embedder 'hashing-128', which cannot be recreated from its name"):
        open_index(where)  # a test embedder cannot be rebuilt from its recorded name: say so


async def test_changed_file_replaces_only_its_chunks_and_prune_removes_deleted(where: Where, corpus: Path) -> None:
    index = open_index(where, HashingEmbedder(64))
    await index.add(corpus)
    before = snapshot(index)
    changed = corpus / "warranty.md"
    changed.write_text("# Warranty\n\nEvery Lumen now has a five-year warranty, including power surges.\n")
    (corpus / "pricing.md").unlink()
    report = await index.add(corpus, prune=True)
    assert (report.embedded, report.unchanged, report.deleted) == (1, 43, 2)
    assert [Path(p).name for p in report.removed_files] == ["pricing.md"]
    after = snapshot(index)
    gone = set(before) - set(after)
    assert {before[i][1].rsplit("/", 1)[1] for i in gone} == {"warranty.md", "pricing.md"}
    assert {k: v for k, v in before.items() if k not in gone} == {k: v for k, v in after.items() if k in before}
    hits = await index.retriever("bm25").retrieve("five-year warranty", k=1)
    assert "five-year" in hits[0].document
    assert all(not h.source.endswith("pricing.md") for h in await index.retrieve("149 dollars Lumen Plus", k=45))
    assert len(index.files()) == 44


async def test_remove_a_file_then_a_directory(where: Where, corpus: Path) -> None:
    index = open_index(where, HashingEmbedder(64))
    (corpus / "sub").mkdir()
    (corpus / "sub" / "extra.txt").write_text("An extra note about the Lumen dial.")
    await index.add(corpus)
    assert [Path(p).name for p in await index.remove(corpus / "battery.md")] == ["battery.md"]
    assert [Path(p).name for p in await index.remove(corpus / "sub")] == ["extra.txt"]
    assert await index.remove(corpus / "never-added.md") == []
    stats = await index.stats()
    assert (stats.chunks, stats.bm25_chunks, stats.files, stats.in_sync) == (44, 44, 44, True)
    assert all(not h.source.endswith("battery.md") for h in await index.retrieve("CR2032 coin cell", k=44))


async def test_where_filters_reach_dense_bm25_and_hybrid(where: Where, tmp_path: Path) -> None:
    kb = tmp_path / "kb.jsonl"
    rows = [
        {"id": "en-reset", "text": "To reset the thermostat hold the dial.", "lang": "en", "year": 2023},
        {
            "id": "fr-reset",
            "text": "Pour réinitialiser le thermostat, maintenez le bouton. reset",
            "lang": "fr",
            "year": 2024,
        },
        {"id": "en-pair", "text": "Pair the thermostat with the hub to reset the link.", "lang": "en", "year": 2024},
    ]
    kb.write_text("\n".join(json.dumps(r) for r in rows))
    from tunewise.retrieval import FieldMap

    index = open_index(where, HashingEmbedder(64))
    await index.add(kb, fields=FieldMap(id="id"))
    for mode in ("dense", "bm25", "hybrid"):
        hits = await index.retrieve("reset thermostat", k=5, where={"lang": "en"}, mode=mode)  # type: ignore[arg-type]
        assert {h.metadata["lang"] for h in hits} == {"en"}, mode
        assert len(hits) == 2
        hits = await index.retrieve("reset", k=5, where={"$and": [{"lang": "en"}, {"year": {"$gte": 2024}}]}, mode=mode)  # type: ignore[arg-type]
        assert [h.source.rsplit("#", 1)[1] for h in hits] == ["en-pair"], mode


async def test_bad_input_raises_one_line_and_loses_nothing(where: Where, corpus: Path, tmp_path: Path) -> None:
    index = open_index(where, HashingEmbedder(64))
    await index.add(corpus)
    before = snapshot(index)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    with pytest.raises(DataError) as info:
        await index.add([corpus, bad])
    assert "\n" not in str(info.value) and str(info.value).endswith("bad.jsonl:2: text: missing text field")
    assert snapshot(index) == before
    assert (await index.stats()).in_sync


async def test_embedder_mismatch_is_a_one_line_config_error(where: Where, corpus: Path, minilm: object) -> None:
    index = open_index(where, minilm)
    await index.add(corpus / "error-e47.md")
    with pytest.raises(ConfigError) as info:
        open_index(where, HashingEmbedder(64))
    message = str(info.value)
    assert "\n" not in message
    assert "built with embedder sentence-transformers:all-MiniLM-L6-v2 (384 dimensions)" in message
    assert "hashing-64 (64 dimensions)" in message
    from tunewise.retrieval import DenseRetriever

    with pytest.raises(ConfigError, match="cannot be used with hashing-64"):
        DenseRetriever(index.store, HashingEmbedder(64))
    same = open_index(where)  # no embedder given: the recorded one is used
    assert same.embedder.name == "sentence-transformers:all-MiniLM-L6-v2"
    assert Path((await same.retrieve("low voltage", k=1, mode="dense"))[0].source).stem == "error-e47"


KILLED_INGEST = textwrap.dedent(
    """
    import os, sys, time, anyio
    from tunewise.retrieval import Index
    from tunewise.testing import HashingEmbedder

    class SlowAfterTwoBatches(HashingEmbedder):
        calls = 0
        async def embed(self, texts):
            type(self).calls += 1
            if type(self).calls == 3:
                open(sys.argv[4], "w").close()  # tell the test two batches are stored
                await anyio.sleep(3600)
            return await super().embed(texts)

    bm25 = None if sys.argv[5] == "-" else sys.argv[5]
    index = Index.open(sys.argv[1], sys.argv[2], embedder=SlowAfterTwoBatches(64), bm25_path=bm25)
    anyio.run(lambda: index.add(sys.argv[3], batch_size=10))
    """
)


def _kill_half_way(where: Where, corpus: Path, tmp_path: Path) -> None:
    """Run an ingest in a subprocess and SIGKILL it once two batches are stored."""
    marker = tmp_path / "two-batches-stored"
    script = tmp_path / "ingest.py"
    script.write_text(KILLED_INGEST)
    bm25 = str(where.bm25_path) if where.bm25_path else "-"
    args = [sys.executable, str(script), where.location, where.collection, str(corpus), str(marker), bm25]
    process = subprocess.Popen(args, env={**os.environ})
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), f"ingest subprocess ended early with {process.poll()}"
    time.sleep(0.3)  # let the writer finish the second batch
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


async def test_ingest_killed_half_way_then_rerun_equals_a_clean_ingest(
    where: Where, corpus: Path, tmp_path: Path
) -> None:
    # A first, complete ingest of an older version of one file: the killed run must replace it.
    index = open_index(where, HashingEmbedder(64))
    (corpus / "warranty.md").write_text("# Warranty\n\nOld text.\n")
    await index.add(corpus / "warranty.md")
    (corpus / "warranty.md").write_text("# Warranty\n\nNew text, two years.\n")
    await anyio.to_thread.run_sync(_kill_half_way, where, corpus, tmp_path)

    half = open_index(where, HashingEmbedder(64))  # sees the pending generation and rebuilds BM25 from Chroma
    assert 0 < half.store.count() < 46
    assert (await half.stats()).in_sync
    report = await half.add(corpus)
    assert report.unchanged > 0 and report.embedded + report.unchanged == 45
    rerun = snapshot(half)

    clean_where = Where(where.kind, where.location, where.bm25_path, where.collection + "-clean")
    clean = open_index(clean_where, HashingEmbedder(64))
    await clean.add(corpus)
    assert rerun == snapshot(clean)
    assert len(half.bm25) == len(clean.bm25) == 45
    assert sorted(half.bm25.ids) == sorted(clean.bm25.ids)
    assert "Old text" not in "".join(doc for doc, _ in rerun.values())


async def test_drop_and_bad_names(where: Where, corpus: Path) -> None:
    index = open_index(where, HashingEmbedder(64))
    await index.add(corpus / "battery.md")
    await index.drop()
    assert (await index.stats()).chunks == 0
    assert open_index(where, HashingEmbedder(32)).embedder.name == "hashing-32"  # a fresh collection again
    with pytest.raises(ConfigError, match="collection name 'a'"):
        Index.open(where.location, "a")


async def test_a_second_client_catches_up_with_refresh(where: Where, corpus: Path, tmp_path: Path) -> None:
    writer = open_index(where, HashingEmbedder(64))
    await writer.add(corpus / "battery.md")
    other_bm25 = tmp_path / "reader-bm25"  # another machine: its own BM25 copy
    reader = Index.open(where.location, where.collection, embedder=HashingEmbedder(64), bm25_path=other_bm25)
    assert len(reader.bm25) == 1
    assert await reader.refresh() is False
    await writer.add(corpus / "warranty.md")
    assert [h.source for h in await reader.retrieve("warranty", k=5, mode="bm25")] == []
    assert await reader.refresh() is True
    hits = await reader.retrieve("warranty", k=5, mode="bm25")
    assert [Path(h.source).name for h in hits] == ["warranty.md"]
    assert (await reader.stats()).in_sync


WRITER = textwrap.dedent(
    """
    import sys, anyio
    from tunewise.retrieval import Index

    index = Index.open(sys.argv[1], sys.argv[2], embedder="scripted:hashing-64")
    anyio.run(index.add, sys.argv[3])
    """
)


def add_in_another_process(location: Path, collection: str, path: Path) -> None:
    subprocess.run([sys.executable, "-c", WRITER, str(location), collection, str(path)], check=True, timeout=120)


async def test_a_long_lived_process_sees_what_another_process_adds_to_an_embedded_index(
    corpus: Path, tmp_path: Path
) -> None:
    location = tmp_path / "index"
    index = Index.open(location, "kbase", embedder="scripted:hashing-64")
    await index.add(corpus / "battery.md")
    dense, hybrid = index.retriever("dense"), index.retriever("hybrid")
    assert [h.source for h in await dense.retrieve("warranty", k=5)] == ["battery.md"]  # the vectors are loaded

    await anyio.to_thread.run_sync(add_in_another_process, location, "kbase", corpus / "warranty.md")
    # chromadb keeps the directory's vectors in memory per process: without a refresh dense search misses the new file
    assert [h.source for h in await dense.retrieve("warranty", k=5)] == ["battery.md"]
    assert await index.refresh() is True
    assert [h.source for h in await dense.retrieve("warranty", k=5)] == ["warranty.md", "battery.md"]
    [top] = await hybrid.retrieve("warranty", k=1)  # a retriever made before the refresh: both halves caught up
    assert top.source == "warranty.md" and top.found_by == {"dense": 1, "bm25": 1}
    assert await index.refresh() is False  # nothing new since

    # A served strategy (what `tunewise serve` builds) checks at most every `refresh_every` seconds on its own.
    spec = {
        "type": "rag",
        "model": "scripted:echo",
        "retriever": {
            "type": "index",
            "location": str(location),
            "collection": "kbase",
            "embedder": "scripted:hashing-64",
        },
        "k": 1,
    }
    with pytest.raises(ConfigError, match="refresh_every must be a number of seconds"):
        build_strategy({**spec, "retriever": {**spec["retriever"], "refresh_every": "often"}})  # type: ignore[dict-item]
    served = build_strategy({**spec, "retriever": {**spec["retriever"], "refresh_every": 0}})
    assert (await served.respond("E47 low voltage")).hits[0].source != "error-e47.md"
    await anyio.to_thread.run_sync(add_in_another_process, location, "kbase", corpus / "error-e47.md")
    assert (await served.respond("E47 low voltage")).hits[0].source == "error-e47.md"


async def test_refresh_says_so_when_a_foreign_client_holds_the_directory(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import chromadb
    from chromadb.config import Settings

    location = tmp_path / "index"
    index = Index.open(location, "kbase", embedder="scripted:hashing-64")
    await index.add(corpus / "battery.md")
    dense = index.retriever("dense")
    await dense.retrieve("warranty", k=5)
    foreign = chromadb.PersistentClient(path=str(location / "chroma"), settings=Settings(anonymized_telemetry=False))
    try:
        await anyio.to_thread.run_sync(add_in_another_process, location, "kbase", corpus / "warranty.md")
        with caplog.at_level("WARNING", logger="tunewise.retrieval"):
            assert await index.refresh() is True  # BM25 caught up
        assert "another chromadb client in this process holds" in caplog.text
        assert "use a Chroma server" in caplog.text
        assert [h.source for h in await index.retrieve("warranty", k=5, mode="bm25")] == ["warranty.md"]
    finally:
        foreign.close()

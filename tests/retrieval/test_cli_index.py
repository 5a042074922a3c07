"""``tunewise index ...`` run as a real subprocess, against a directory and a Chroma server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([CLI, "index", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_add_query_stats_remove(corpus: Path, tmp_path: Path) -> None:
    target = ["--path", str(tmp_path / "kb"), "--collection", "lumen"]
    emb = ["--embedder", "scripted:hashing-64"]

    added = run("add", str(corpus), *target, *emb, "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["embedded"] == 45
    again = run("add", str(corpus), *target, *emb)
    assert again.returncode == 0 and "0 embedded, 45 unchanged" in again.stdout

    query = run("query", "E47 low voltage", *target, *emb, "-k", "3", "--fusion", "rrf", "--json")
    assert query.returncode == 0, query.stderr
    hits = {Path(h["source"]).name: h for h in json.loads(query.stdout)}
    assert hits["error-e47.md"]["found_by"]["bm25"] == 1  # hashing-64 is a weak dense model; BM25 finds it
    table = run("query", "CR2032", *target, *emb, "--mode", "bm25")
    assert table.returncode == 0 and "battery.md" in table.stdout and "bm25#1" in table.stdout
    filtered = run("query", "wire", *target, *emb, "--where", '{"title": "Homes without a C wire"}', "--json")
    assert [Path(h["source"]).name for h in json.loads(filtered.stdout)] == ["c-wire.md"]

    removed = run("remove", str(corpus / "battery.md"), *target, *emb)
    assert removed.returncode == 0 and "removed 1 files" in removed.stdout
    stats = json.loads(run("stats", *target, *emb, "--json").stdout)
    assert (stats["chunks"], stats["files"], stats["in_sync"], stats["embedder"]) == (44, 44, True, "hashing-64")

    dropped = run("drop", *target, *emb, "--yes")
    assert dropped.returncode == 0
    gone = run("stats", *target, *emb, "--json")  # a dropped collection is not an empty one
    assert gone.returncode == 2 and gone.stdout == ""
    assert gone.stderr.startswith("error: no collection 'lumen' at ") and gone.stderr.count("\n") == 1


def test_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops}\n")
    result = run("add", str(bad), "--path", str(tmp_path / "kb"), "--embedder", "scripted:hashing-64")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "bad.jsonl:1: invalid JSON" in result.stderr
    assert not (tmp_path / "kb").exists()  # the failed first add left no empty index
    result = run("query", "x", "--path", str(tmp_path / "kb"), "--where", "{not json")
    assert result.returncode == 2 and result.stderr.startswith("error: --where is not valid JSON")
    result = run("query", "x", "--path", str(tmp_path / "kb"), "--collection", "missing")
    assert result.returncode == 2 and result.stderr.startswith(f"error: no index at {(tmp_path / 'kb').as_posix()}")
    assert not (tmp_path / "kb").exists()  # nor did reading a missing one
    result = run("stats", "--url", "http://127.0.0.1:9", "--collection", "abc")
    assert result.returncode == 2 and result.stderr.startswith(
        "error: cannot reach the Chroma server at http://127.0.0.1:9"
    )


@pytest.mark.slow
def test_url_uses_the_chroma_server(chroma_server: str, corpus: Path, tmp_path: Path) -> None:
    target = [
        "--url",
        chroma_server,
        "--collection",
        f"cli-{uuid.uuid4().hex[:8]}",
        "--embedder",
        "scripted:hashing-64",
    ]
    added = run("add", str(corpus / "battery.md"), str(corpus / "warranty.md"), *target, "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["embedded"] == 2
    stats = json.loads(run("stats", *target, "--json").stdout)
    assert (stats["location"], stats["chunks"], stats["in_sync"]) == (chroma_server, 2, True)

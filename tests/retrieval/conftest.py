"""Retrieval fixtures: a real Chroma server (``chroma run``) and real MiniLM, each started once.

Index tests run twice, against an embedded ``PersistentClient`` directory and against
the server, through the same public API.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

DATA = Path(__file__).parent.parent / "data" / "retrieval"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``chroma run`` server on 127.0.0.1 and a random port, for the whole session."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    for _ in range(3):  # another process may grab the free port between bind and listen
        port = _free_port()
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        process = subprocess.Popen(
            [chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            process.kill()
            process.wait()
            continue
        try:
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        return
    log.close()
    pytest.fail(f"chroma run did not start; see {data / 'server.log'}")


@dataclass(frozen=True)
class Where:
    """Where an index lives in one test: a directory or a server, plus a BM25 directory."""

    kind: str
    location: str
    bm25_path: Path | None
    collection: str


@pytest.fixture(params=["embedded", "server"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """A fresh collection, embedded or on the shared test server."""
    collection = f"t-{uuid.uuid4().hex[:12]}"
    if request.param == "embedded":
        return Where("embedded", str(tmp_path / "index"), None, collection)
    url: str = request.getfixturevalue("chroma_server")
    return Where("server", url, tmp_path / "bm25", collection)


@pytest.fixture(scope="session")
def minilm() -> object:
    """The packaged all-MiniLM-L6-v2, loaded once per session (about 90 MB on CPU)."""
    from tunewise.retrieval import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.encode(["warm up"])
    return embedder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the labeled corpus."""
    target = tmp_path / "docs"
    shutil.copytree(DATA / "docs", target)
    return target

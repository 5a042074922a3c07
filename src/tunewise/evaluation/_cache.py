"""An explicit response cache keyed by request hash, off unless asked for.

Re-running an evaluation after changing a metric or a report should not pay for the same
calls again. A cached response is replayed with its *original* usage and cost, so the
run's cost figures stay what the calls really cost (never 0), and the run store marks the
call as cached. Nothing is cached unless you pass ``cache=`` to the runner or enter
``use_cache(cache)`` yourself.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunewise._types import ChatRequest, ChatResponse

_ACTIVE: contextvars.ContextVar[ResponseCache | None] = contextvars.ContextVar("tunewise_cache", default=None)


@dataclass(frozen=True)
class CacheHit:
    """A replayed response, with the cost recorded when it was first paid for (``None`` = unknown)."""

    key: str
    response: ChatResponse
    cost: float | None


class ResponseCache:
    """Responses in a SQLite file (WAL), keyed by model reference + request fingerprint."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses ("
            " key TEXT PRIMARY KEY, model_ref TEXT NOT NULL, response TEXT NOT NULL,"
            " cost REAL, created_at REAL NOT NULL)"
        )
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"<ResponseCache {str(self.path)!r}>"

    @staticmethod
    def key(model_ref: str, request: ChatRequest) -> str:
        """The cache key: the provider matters as much as the request (``openai:x`` vs ``ollama:x``)."""
        return hashlib.sha256(f"{model_ref}\n{request.fingerprint()}".encode()).hexdigest()

    def get(self, key: str) -> CacheHit | None:
        from tunewise._types import ChatResponse

        with self._lock:
            row = self._db.execute("SELECT response, cost FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return CacheHit(key, ChatResponse.model_validate_json(row[0]), row[1])

    def put(self, key: str, response: ChatResponse, model_ref: str = "") -> None:
        """Store a fresh response (its cost is filled in by :meth:`set_cost` once known)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model_ref, response, cost, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, model_ref, response.model_dump_json(), None, time.time()),
            )

    def set_cost(self, key: str, cost: float | None) -> None:
        if cost is None:
            return
        with self._lock:
            self._db.execute("UPDATE responses SET cost = ? WHERE key = ? AND cost IS NULL", (cost, key))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def active_cache() -> ResponseCache | None:
    """The cache strategies use in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def use_cache(cache: ResponseCache | None) -> Iterator[ResponseCache | None]:
    """Within the block (and tasks started in it), strategies replay and store responses in ``cache``."""
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)

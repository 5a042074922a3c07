"""An explicit response cache keyed by request hash, off unless asked for.

Re-running an evaluation after changing a metric or a report should not pay for the same
calls again. A cached response is replayed with its *original* usage and cost, so the
run's cost figures stay what the calls really cost (never 0), and the run store marks the
call as cached. Nothing is cached unless you pass ``cache=`` to the runner or enter
``use_cache(cache)`` yourself.

The cache reaches strategies as a provider wrapper ([`CachingProvider`][tunewise.evaluation._cache.CachingProvider], in
the spirit of an httpx transport or pydantic-ai's ``WrapperModel``): ``use_cache`` installs it through
``tunewise.strategies``' provider-wrapping hook, and each call's record
([`ModelCall`][tunewise.ModelCall]) says whether it was replayed and what it first cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise.strategies._call import active_wrappers, provider_wrappers

if TYPE_CHECKING:
    from tunewise._types import ChatChunk, ChatRequest, ChatResponse, ModelCall
    from tunewise.interfaces.provider import Provider


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
        """Store a fresh response (its cost is filled in by `set_cost()` once known)."""
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


class CachingProvider:
    """A provider that answers from ``cache`` when it can and stores what ``inner`` answers otherwise.

    One is made per model call (by [`use_cache()`][tunewise.evaluation.use_cache]'s wrapper), so
    [`annotate()`][tunewise.evaluation._cache.CachingProvider.annotate] can say what happened to that call. Everything
    but ``chat`` is ``inner``'s.
    """

    def __init__(self, inner: Provider, cache: ResponseCache, model_ref: str) -> None:
        self.inner = inner
        self.cache = cache
        self.model_ref = model_ref
        self._key: str | None = None
        self._hit: CacheHit | None = None

    def __getattr__(self, name: str) -> Any:  # name, capabilities, embedder, fine_tuner, aclose...
        return getattr(self.inner, name)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        key = self._key = self.cache.key(self.model_ref, request)
        hit = self._hit = self.cache.get(key)
        if hit is not None:
            return hit.response
        response = await self.inner.chat(request)
        self.cache.put(key, response, self.model_ref)
        return response

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        return self.inner.stream(request)  # calls under a cache are sent with chat; a stream passes through

    def annotate(self, call: ModelCall) -> ModelCall:
        """``call`` with its cache key, and, when replayed, the cost recorded when it was first paid for."""
        hit = self._hit
        return call.model_copy(
            update={"cache_key": self._key, "cached": hit is not None, "cost": hit.cost if hit is not None else None}
        )


@dataclass(frozen=True)
class _CacheWrapper:
    """The provider wrapper `use_cache()` installs: each call goes through a fresh `CachingProvider`."""

    cache: ResponseCache

    def __call__(self, model_ref: str, provider: Provider) -> Provider:
        return CachingProvider(provider, self.cache, model_ref)


def active_cache() -> ResponseCache | None:
    """The cache strategies use in this context, if any."""
    for wrapper in reversed(active_wrappers()):
        if isinstance(wrapper, _CacheWrapper):
            return wrapper.cache
    return None


@contextlib.contextmanager
def use_cache(cache: ResponseCache | None) -> Iterator[ResponseCache | None]:
    """Within the block (and tasks started in it), strategies replay and store responses in ``cache``.

    ``use_cache(None)`` turns off a cache of an enclosing block; the innermost ``use_cache`` wins.
    """
    others = tuple(wrapper for wrapper in active_wrappers() if not isinstance(wrapper, _CacheWrapper))
    with provider_wrappers((*others, _CacheWrapper(cache)) if cache is not None else others):
        yield cache

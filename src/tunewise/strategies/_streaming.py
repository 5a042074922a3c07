"""Streaming a strategy's model calls while it answers, without changing how strategies are written.

Strategies return whole [`Answer`][tunewise.Answer]s. Inside [`stream_calls()`][tunewise.strategies.stream_calls], every
model call a strategy makes goes through the provider's ``stream`` instead of ``chat``: each chunk
is handed to ``on_chunk`` as it arrives, and the strategy still receives the assembled
[`ChatResponse`][tunewise.ChatResponse], so its answer is the same. ``tunewise serve`` and
``tunewise chat`` use it to show tokens as the model writes them. The same block can carry
request options (``temperature``, ``max_tokens``...) that override the strategy's own.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunewise._types import ChatChunk, ChatRequest, ChatResponse

ChunkSink = Callable[[ChatChunk], Awaitable[None]]
"""Receives each chunk of a streamed model call, in order."""


@dataclass(frozen=True)
class CallTap:
    """What `stream_calls()` set: where chunks go, and the request options that override the strategy's."""

    on_chunk: ChunkSink | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


_ACTIVE: contextvars.ContextVar[CallTap | None] = contextvars.ContextVar("tunewise_call_tap", default=None)


def active_tap() -> CallTap | None:
    """The tap model calls use in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def stream_calls(on_chunk: ChunkSink | None = None, *, options: Mapping[str, Any] | None = None) -> Iterator[CallTap]:
    """Within the block (and tasks started in it), strategies' model calls stream to ``on_chunk``.

    ``options`` are request fields (``temperature``, ``max_tokens``, ``stop``, ``seed``,
    ``top_p``) sent with every call, overriding the strategy's configured values. A response
    cache in use (``tunewise.evaluation``) takes precedence: a replayed call streams nothing.
    """
    tap = CallTap(on_chunk, dict(options or {}))
    token = _ACTIVE.set(tap)
    try:
        yield tap
    finally:
        _ACTIVE.reset(token)


async def collect_stream(chunks: AsyncIterator[ChatChunk], request: ChatRequest, on_chunk: ChunkSink) -> ChatResponse:
    """Forward each chunk to ``on_chunk`` and assemble the `ChatResponse` ``chat`` would have returned."""
    import anyio

    started = time.perf_counter()
    received: list[ChatChunk] = []
    try:
        async for chunk in chunks:
            received.append(chunk)
            await on_chunk(chunk)
    finally:
        # Close the provider's stream here, even when cancelled (a client that left): left to the
        # garbage collector, its cleanup runs in a task of its own and fails there, unseen.
        close = getattr(chunks, "aclose", None)
        if close is not None:
            with anyio.move_on_after(5, shield=True):
                await close()
    return ChatResponse.from_chunks(received, model=request.model, latency_s=time.perf_counter() - started)

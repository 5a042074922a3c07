"""Client-side limits: requests per minute, tokens per minute and requests in flight.

Servers enforce their own limits with 429s; staying under them on the client side
avoids paying for those round trips (and their backoff) when a run is large. Token
counts are estimated before sending (4 characters a token plus ``max_tokens``), the
way OpenAI's own limiter counts a request before it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
from aiolimiter import AsyncLimiter


def estimate_tokens(body: dict[str, Any] | None) -> int:
    """Tokens a request will count against a tokens-per-minute limit (an estimate)."""
    if not body:
        return 1
    chars = 0
    for message in body.get("messages") or ():
        content = message.get("content")
        chars += len(content) if isinstance(content, str) else 0
    inputs = body.get("input")
    if isinstance(inputs, str):
        chars += len(inputs)
    elif isinstance(inputs, list):
        chars += sum(len(t) for t in inputs if isinstance(t, str))
    completion = body.get("max_completion_tokens") or body.get("max_tokens") or 0
    return max(1, chars // 4 + int(completion))


class Throttle:
    """Holds each request until the rpm, tpm and concurrency limits all allow it."""

    def __init__(self, *, rpm: int | None, tpm: int | None, max_concurrency: int | None, period: float = 60.0) -> None:
        self._rpm = AsyncLimiter(rpm, period) if rpm else None
        self._tpm = AsyncLimiter(tpm, period) if tpm else None
        self._tpm_max = tpm or 0
        self._slots = anyio.Semaphore(max_concurrency) if max_concurrency else None

    @property
    def active(self) -> bool:
        return self._rpm is not None or self._tpm is not None or self._slots is not None

    async def admit(self, tokens: int = 1) -> None:
        """Wait until one more request of ``tokens`` tokens fits the per-minute limits."""
        if self._rpm is not None:
            await self._rpm.acquire()
        if self._tpm is not None:
            await self._tpm.acquire(min(tokens, self._tpm_max))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``max_concurrency`` slots for the ``async with`` block."""
        if self._slots is None:
            yield
            return
        async with self._slots:
            yield

"""Batches: a provider that answers many chat requests at once, later and cheaper (OpenAI's Batch API).

Two capabilities, both optional and found by looking, never by a provider's or strategy's name:

- a provider with a ``batches`` attribute that is a [`BatchClient`][tunewise.interfaces.batch.BatchClient]
  can take an evaluation's requests as one batch (`batch_client()` finds it);
- a strategy whose ``batchable`` attribute is ``True`` makes at most one model call per answer, after its local
  steps (retrieval, example selection) and depending on no other model answer, so that call can wait in a batch
  (`is_batchable()`). Every built-in strategy is; a strategy that needs several dependent calls leaves it out and
  runs live.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from tunewise._types import ChatRequest, ChatResponse


class BatchOutcome(Protocol):
    """What a batch returned for one request: a response, or the error it got."""

    @property
    def response(self) -> ChatResponse | None:
        """The answer to the request, or ``None`` when it failed."""
        ...

    @property
    def error(self) -> Exception | None:
        """Why the request failed, or ``None`` when it has a response."""
        ...


@runtime_checkable
class BatchClient(Protocol):
    """A provider's batch API: submit requests, wait for the batch, read each request's outcome.

    ``submit`` must be idempotent for the same requests (a second call re-attaches to the batch already
    running), so a process killed after submitting never pays twice. A batch is a dict shaped like OpenAI's
    batch object: ``id``, ``status`` and ``request_counts`` (``total``, ``completed``, ``failed``).
    """

    async def submit(
        self, requests: Sequence[ChatRequest], *, metadata: dict[str, str] | None = None, resume: bool = True
    ) -> dict[str, Any]:
        """Create a batch of ``requests``, or with ``resume`` re-attach to the one they started; the batch."""
        ...

    async def wait(
        self,
        batch_id: str,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the batch until it ends, passing each state seen to ``on_poll``; the batch as it ended."""
        ...

    async def results(self, batch: dict[str, Any], requests: Sequence[ChatRequest]) -> Sequence[BatchOutcome]:
        """One outcome per request of a finished batch, in the order of ``requests``."""
        ...


def batch_client(provider: object) -> BatchClient | None:
    """``provider.batches`` when it is a [`BatchClient`][tunewise.interfaces.batch.BatchClient], else ``None``."""
    client = getattr(provider, "batches", None)
    return client if isinstance(client, BatchClient) else None


def is_batchable(strategy: object) -> bool:
    """Whether ``strategy`` says its one model call per answer can wait in a batch (``batchable = True``)."""
    return getattr(strategy, "batchable", False) is True

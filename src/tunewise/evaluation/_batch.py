"""Evaluation through a provider's batch API: the same results as a live run, at the batch price.

A batch run answers each (strategy, case) pair in three steps:

1. **local steps**: the strategy answers under a provider wrapper that stops it at its model
   call and keeps the request (retrieval and example selection have run by then; a hand-off or a
   cache replay needs no call and is stored at once);
2. **the batch**: the requests go to the provider's batch API, one batch per provider, whose id
   is kept in the run store (table ``batches``) the moment it is known; the batch is polled with
   progress until it ends;
3. **answers**: the strategy answers again under a wrapper that returns the batch's response to
   its request (or raises the batch's error for it), so the answer, its scores and its run-store
   row are built by exactly the code of a live run. Calls are priced at the batch rate.

Running the same run again re-attaches to the batches it recorded (by id) and never submits
them twice. Failed requests that may pass on a second try are retried once in a follow-up
batch, or live. The strategy and provider capabilities are in `tunewise.interfaces.batch`.
"""

from __future__ import annotations

import abc
import functools
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from tunewise._errors import ConfigError, TunewiseError
from tunewise._types import ChatChunk, ChatRequest, ChatResponse
from tunewise.interfaces.batch import BatchClient, batch_client, is_batchable
from tunewise.strategies._call import active_wrappers, provider_wrappers

if TYPE_CHECKING:
    from rich.progress import TaskID

    from tunewise._types import Usage
    from tunewise.evaluation._runner import CostFunction, Job, _ProgressBar, _Run
    from tunewise.evaluation._runstore import RunStore
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.finetune import FineTuner
    from tunewise.interfaces.provider import Capability, Provider

log = logging.getLogger("tunewise.evaluation")

_T = TypeVar("_T")
BatchRetry = Literal["batch", "live", "none"]
RETRIES: tuple[BatchRetry, ...] = ("batch", "live", "none")


@dataclass(frozen=True)
class BatchOptions:
    """How [`evaluate(batch=...)`][tunewise.evaluation.evaluate] uses the batch API."""

    retry: BatchRetry = "batch"
    """Requests that failed with an error a second try may fix (a 500, a rate limit): ``"batch"`` sends them
    again in one follow-up batch, ``"live"`` sends them live at the full price, ``"none"`` stores the errors."""
    poll_interval: float | None = None
    """Seconds between polls; ``None``: the provider's own (``poll_interval`` in its options)."""
    timeout: float | None = None
    """The most seconds to wait for a batch; ``None`` waits as long as it takes (up to the 24 h window).
    When it runs out, the batch keeps running: the same run again collects it."""

    def __post_init__(self) -> None:
        if self.retry not in RETRIES:
            raise ConfigError(f"batch retry must be one of {', '.join(RETRIES)}, got {self.retry!r}")
        if self.poll_interval is not None and not self.poll_interval >= 0:
            raise ConfigError(f"batch poll_interval must be 0 or more seconds, got {self.poll_interval!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"batch timeout must be a positive number of seconds, got {self.timeout!r}")

    def describe(self) -> dict[str, Any]:
        """What the run store records in the run's config (not in its id: batching changes no answer)."""
        return {"retry": self.retry}


def batch_pricing(cost: CostFunction | None) -> CostFunction | None:
    """``cost`` at the batch rate: ``cost(model_ref, usage, batch=True)``.

    A cost function that takes no ``batch`` argument cannot know the discount: its batch prices
    are unknown (``None`` with an [`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning]), never the full price.
    """
    if cost is None:
        return None
    try:
        parameters = inspect.signature(cost).parameters.values()
    except (TypeError, ValueError):
        parameters = ()  # type: ignore[assignment]
    if any(p.name == "batch" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        priced: Callable[..., float | None] = cost
        return functools.partial(priced, batch=True)
    name = getattr(cost, "__qualname__", type(cost).__name__)

    def unknown(model_ref: str, usage: Usage) -> float | None:
        from tunewise.costs import Cost

        why = f"{model_ref}: the cost function {name} takes no batch= argument, so batch prices are unknown"
        Cost.unknown_because(why).warn(stacklevel=2)
        return None

    return unknown


# -- the two provider wrappers ------------------------------------------------------------------


class _Deferred(BaseException):
    """A strategy reached its model call: the request waits for the batch.

    A BaseException, so that no ``except Exception`` in a strategy or the runner takes it for a failure.
    """

    def __init__(self, model_ref: str, provider: Provider, request: ChatRequest) -> None:
        super().__init__(model_ref)
        self.model_ref = model_ref
        self.provider = provider
        self.request = request


class NotInBatchError(TunewiseError):
    """A strategy asked, after its batch, for a request the batch did not hold."""


class _Delegating(abc.ABC):
    """A provider that passes everything but ``chat`` and ``stream`` to ``inner``; ``respond`` answers those."""

    def __init__(self, inner: Provider, model_ref: str) -> None:
        self.inner = inner
        self.model_ref = model_ref
        self.name: str = inner.name
        self.capabilities: frozenset[Capability] = inner.capabilities

    def embedder(self, model: str) -> Embedder:
        return self.inner.embedder(model)

    def fine_tuner(self) -> FineTuner:
        return self.inner.fine_tuner()

    async def aclose(self) -> None:
        return None  # the registry owns the provider

    @abc.abstractmethod
    async def respond(self, request: ChatRequest) -> ChatResponse:
        """The answer ``chat`` and ``stream`` give to ``request``."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        return await self.respond(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:  # wrapped calls use chat
        response = await self.respond(request)
        yield ChatChunk(delta=response.text, finish_reason=response.finish_reason, usage=response.usage)


class _Collecting(_Delegating):
    async def respond(self, request: ChatRequest) -> ChatResponse:
        raise _Deferred(self.model_ref, self.inner, request)


class _Answering(_Delegating):
    def __init__(self, inner: Provider, model_ref: str, outcomes: dict[str, ChatResponse | Exception]) -> None:
        super().__init__(inner, model_ref)
        self.outcomes = outcomes

    async def respond(self, request: ChatRequest) -> ChatResponse:
        outcome = self.outcomes.get(request.fingerprint())
        if outcome is None:
            raise NotInBatchError(
                f"{self.model_ref}: the batch holds no answer to this request (the strategy's calls depend on "
                "earlier answers, or its local steps answered differently); run it live"
            )
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _collecting(model_ref: str, provider: Provider) -> Provider:
    return _Collecting(provider, model_ref)


def _answering(outcomes: dict[str, ChatResponse | Exception]) -> Callable[[str, Provider], Provider]:
    return lambda model_ref, provider: _Answering(provider, model_ref, outcomes)


# -- where the batch ids are kept -----------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    run_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    round INTEGER NOT NULL,
    pairs TEXT NOT NULL,
    requests TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, batch_id)
);
"""


@dataclass(frozen=True)
class _Recorded:
    batch_id: str
    round: int
    pairs: list[tuple[str, str]]
    """(strategy, case id) of each request, in request order."""
    requests: list[ChatRequest]


class BatchLedger:
    """The batches of each run, in the run store: submitted ones are collected by id on a rerun.

    A table of the store's own file, written through the store's connection and lock (one connection
    per file, opened and checked once by [`RunStore`][tunewise.evaluation.RunStore]).
    """

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._execute(_SCHEMA, script=True)

    def _execute(self, sql: str, params: tuple[Any, ...] = (), *, script: bool = False) -> list[Any]:
        with self._store._lock:
            if script:
                self._store._db.executescript(sql)
                return []
            return self._store._db.execute(sql, params).fetchall()

    def open_batches(self, run_id: str) -> list[_Recorded]:
        """The run's batches not yet collected, oldest first."""
        rows = self._execute(
            "SELECT batch_id, round, pairs, requests FROM batches WHERE run_id = ? AND status = 'submitted' "
            "ORDER BY created_at",
            (run_id,),
        )
        return [
            _Recorded(
                batch_id=row[0],
                round=row[1],
                pairs=[(p[0], p[1]) for p in json.loads(row[2])],
                requests=[ChatRequest.model_validate(r) for r in json.loads(row[3])],
            )
            for row in rows
        ]

    def add(
        self, run_id: str, batch_id: str, round: int, pairs: Sequence[tuple[str, str]], requests: Sequence[ChatRequest]
    ) -> None:
        self._execute(
            "INSERT OR IGNORE INTO batches (run_id, batch_id, round, pairs, requests, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'submitted', ?)",
            (
                run_id,
                batch_id,
                round,
                json.dumps([list(p) for p in pairs]),
                json.dumps([r.model_dump(mode="json") for r in requests]),
                time.time(),
            ),
        )

    def collected(self, run_id: str, batch_id: str) -> None:
        self._execute("UPDATE batches SET status = 'collected' WHERE run_id = ? AND batch_id = ?", (run_id, batch_id))

    def was_collected(self, batch_id: str) -> bool:
        """Whether some run of this store already stored the answers of ``batch_id``."""
        return bool(
            self._execute("SELECT 1 FROM batches WHERE batch_id = ? AND status = 'collected' LIMIT 1", (batch_id,))
        )


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """A pair whose model call waits for a batch."""

    job: Job
    model_ref: str
    provider: Provider
    client: BatchClient | None
    request: ChatRequest

    @property
    def pair(self) -> tuple[str, str]:
        return (self.job[2].name, self.job[1].id)


@dataclass
class _Batch:
    """One batch of this call: submitted now or re-attached, with the pairs its requests answer."""

    client: BatchClient
    batch_id: str
    round: int
    pending: list[_Pending | None]
    """Per request: the pair still waiting for it (``None``: answered since, by an earlier call)."""
    requests: list[ChatRequest]


@dataclass
class BatchRun:
    """The batch part of one [`evaluate()`][tunewise.evaluation.evaluate] call (see the module's docstring)."""

    run: _Run
    options: BatchOptions
    concurrency: int
    bar: _ProgressBar | None = None
    notes: list[str] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)
    pending: dict[tuple[str, str], _Pending] = field(default_factory=dict)

    async def prepare(self, jobs: Sequence[Job]) -> list[Job]:
        """Run every batchable pair's local steps and check its provider has batches; the pairs to run live.

        A provider without batches is a one-line ConfigError here, before anything is submitted.
        """
        live = [job for job in jobs if not is_batchable(job[2])]
        for name in dict.fromkeys(job[2].name for job in live):
            self.note(
                f"strategy {name!r} runs live: it does not declare batchable = True "
                "(its model calls may depend on each other's answers)"
            )
        batchable = [job for job in jobs if is_batchable(job[2])]
        await _pool(batchable, self.concurrency, self._collect)
        for pending in self.pending.values():
            if pending.client is None:
                raise ConfigError(
                    f"model {pending.model_ref}'s provider ({pending.provider.name}) does not support batches; "
                    "run live (without --batch)"
                )
        return live

    def note(self, line: str) -> None:
        log.info(line)
        self.notes.append(line)

    async def _collect(self, job: Job) -> None:
        index, case, strategy = job
        try:
            with provider_wrappers((_collecting, *active_wrappers())):
                result = await self.run.run_one(index, case, strategy)
        except _Deferred as deferred:
            client = batch_client(deferred.provider)
            pending = _Pending(job, deferred.model_ref, deferred.provider, client, deferred.request)
            self.pending[pending.pair] = pending
            return
        self.run.record(result, strategy, case, self.bar)  # no call to batch: a hand-off, a cache replay, an error

    async def complete(self) -> list[Job]:
        """Submit (or re-attach to) the batches, wait, store every answer; the pairs to retry live."""
        ledger = BatchLedger(self.run.store)
        retry = await self._round(ledger, 1)
        if not retry:
            return []
        if self.options.retry == "batch":
            self.note(f"{len(retry)} requests failed in the batch and are sent again in a follow-up batch")
            for item in retry:
                self.pending[item.pair] = item
            left = await self._round(ledger, 2)
            assert not left
            return []
        self.note(f"{len(retry)} requests failed in the batch and are sent again live")
        return [item.job for item in retry]

    async def _round(self, ledger: BatchLedger, round: int) -> list[_Pending]:
        """One round: re-attach to recorded batches, submit the rest, wait, answer; the pairs to retry."""
        run_id = self.run.run_id
        batches: list[_Batch] = []
        for recorded in ledger.open_batches(run_id) if round == 1 else []:
            waiting = [self.pending.pop(pair, None) for pair in recorded.pairs]
            first = next((p for p in waiting if p is not None), None)
            if first is None or first.client is None:
                ledger.collected(run_id, recorded.batch_id)  # every pair answered already
                continue
            batches.append(_Batch(first.client, recorded.batch_id, recorded.round, waiting, recorded.requests))
            log.info("batch %s: re-attached (%d requests)", recorded.batch_id, len(recorded.requests))
        if self.pending and self.run.stopped is None and self.run.halt is None:
            batches += await self._submit(ledger, round)
        self.pending.clear()
        self.batch_ids += [b.batch_id for b in batches]
        retry: list[_Pending] = []

        async def one(batch: _Batch) -> None:
            retry.extend(await self._collect_batch(ledger, batch))

        await _pool(batches, len(batches), one)
        return sorted(retry, key=lambda p: (p.job[0], p.job[2].name))

    async def _submit(self, ledger: BatchLedger, round: int) -> list[_Batch]:
        groups: dict[int, list[_Pending]] = {}
        for pending in self.pending.values():
            groups.setdefault(id(pending.client), []).append(pending)
        submitted = []
        for group in groups.values():
            client = group[0].client
            assert client is not None  # prepare() refused providers without batches
            requests = [p.request for p in group]
            metadata = {"tunewise_run": self.run.run_id[:500]}
            batch = await client.submit(requests, metadata=metadata)
            if ledger.was_collected(str(batch["id"])):  # the same requests, answered before: these want new answers
                batch = await client.submit(requests, metadata=metadata, resume=False)
            batch_id = str(batch["id"])
            ledger.add(self.run.run_id, batch_id, round, [p.pair for p in group], requests)
            log.info("batch %s: %d requests of run %s submitted", batch_id, len(requests), self.run.run_id)
            waiting: list[_Pending | None] = [*group]
            submitted.append(_Batch(client, batch_id, round, waiting, requests))
        return submitted

    async def _collect_batch(self, ledger: BatchLedger, batch: _Batch) -> list[_Pending]:
        """Wait for ``batch``, then store the answer of each pair still waiting; those to retry."""
        task: TaskID | None = None
        if self.bar is not None:
            task = self.bar.add(f"batch {batch.batch_id}", len(batch.requests))

        def progress(state: dict[str, Any]) -> None:
            if self.bar is None or task is None:
                return
            counts = state.get("request_counts") or {}
            done = int(counts.get("completed") or 0) + int(counts.get("failed") or 0)
            self.bar.show(task, completed=done, status=str(state.get("status", "")))

        done = await batch.client.wait(
            batch.batch_id, poll_interval=self.options.poll_interval, timeout=self.options.timeout, on_poll=progress
        )
        outcomes: list[ChatResponse | Exception]
        try:
            outcomes = [
                o.response or o.error or _no_result(batch) for o in await batch.client.results(done, batch.requests)
            ]
        except Exception as exc:  # the whole batch failed (its input was refused): every request has that error
            outcomes = [exc] * len(batch.requests)
        retry: list[_Pending] = []
        answers: list[tuple[_Pending, dict[str, ChatResponse | Exception]]] = []
        for pending, request, outcome in zip(batch.pending, batch.requests, outcomes, strict=True):
            if pending is None:
                continue
            if isinstance(outcome, Exception) and self._retries(outcome, batch.round):
                retry.append(pending)
                continue
            answers.append((pending, {request.fingerprint(): outcome}))

        async def answer(item: tuple[_Pending, dict[str, ChatResponse | Exception]]) -> None:
            pending, outcome = item
            index, case, strategy = pending.job
            with provider_wrappers((_answering(outcome), *active_wrappers())):
                result = await self.run.run_one(index, case, strategy, cost=self.batch_cost)
            self.run.record(result, strategy, case, self.bar)

        await _pool(answers, self.concurrency, answer)
        ledger.collected(self.run.run_id, batch.batch_id)
        return retry

    @functools.cached_property
    def batch_cost(self) -> CostFunction | None:
        return batch_pricing(self.run.cost)

    def _retries(self, error: Exception, round: int) -> bool:
        """Whether a request that failed with ``error`` is tried again (once, and only if it may pass)."""
        return self.options.retry != "none" and round == 1 and getattr(error, "retryable", False) is True


def _no_result(batch: _Batch) -> Exception:
    from tunewise._errors import ProviderError

    return ProviderError(f"batch {batch.batch_id} returned neither an answer nor an error for a request")


async def _pool(items: Sequence[_T], concurrency: int, work: Callable[[_T], Awaitable[None]]) -> None:
    """``work`` on every item, at most ``concurrency`` at a time."""
    queue = iter(items)

    async def worker() -> None:
        for item in queue:
            await work(item)

    async with anyio.create_task_group() as group:
        for _ in range(min(max(concurrency, 1), len(items))):
            group.start_soon(worker)

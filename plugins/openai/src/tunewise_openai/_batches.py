"""The Batch API: many chat requests for half the price, answered within 24 hours.

``await provider.batches.run(requests)`` writes the JSONL (one line per request, each
with a ``custom_id``), uploads it, creates the batch, polls it, downloads the output
and error files and returns one [`BatchResult`][tunewise_openai.BatchResult] per request, in request order.
The lower-level steps (``submit``, ``wait``, ``results``) let a long batch be resumed
from its id in another process.

Submitting is idempotent like starting a fine-tune: the hash of the server URL and the
JSONL names the batch, recorded under ``<home>/openai/batches/`` and sent as the
batch's ``metadata.tunewise_key``. Running the same requests again (after a crash, say)
re-attaches to the batch already running or done instead of paying for it twice;
a batch that failed, expired or was cancelled is submitted afresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from tunewise import BadRequestError, ChatRequest, ChatResponse, NotFoundError, ProviderError
from tunewise.plugin import get_logger
from tunewise_openai._chat import chat_body, parse_completion
from tunewise_openai._errors import error_from_status, one_line, shaped
from tunewise_openai._files import Files
from tunewise_openai._http import HTTPClient
from tunewise_openai._records import RecordStore, input_key
from tunewise_openai._tasks import run_all

log = get_logger("tunewise.openai.batches")
MAX_REQUESTS_PER_BATCH = 50_000
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
DEAD = frozenset({"failed", "expired", "cancelling", "cancelled"})
MARKER = "tunewise_key"


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one request of a batch: a response, or the error it got."""

    custom_id: str
    request: ChatRequest
    response: ChatResponse | None = None
    error: ProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None


def custom_ids(requests: Sequence[ChatRequest]) -> list[str]:
    """One id per request: its position (unique even for repeated requests) and a fingerprint."""
    return [f"req-{index:06d}-{request.fingerprint()[:12]}" for index, request in enumerate(requests)]


def build_jsonl(requests: Sequence[ChatRequest], ids: Sequence[str], *, provider: str, max_tokens_param: str) -> bytes:
    """The batch input file: one ``{"custom_id", "method", "url", "body"}`` line per request."""
    lines = [
        json.dumps(
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": chat_body(request, provider=provider, max_tokens_param=max_tokens_param),
            }
        )
        for custom_id, request in zip(ids, requests, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def parse_result_line(line: dict[str, Any], *, provider: str) -> ChatResponse | ProviderError:
    """One line of an output or error file as a response or an error."""
    response = line.get("response")
    if isinstance(response, dict):
        status = int(response.get("status_code") or 0)
        request_id = response.get("request_id")
        body = response.get("body")
        if status == 200:
            try:
                return parse_completion(body, provider=provider, request_id=request_id)
            except ProviderError as exc:
                return exc
        headers = {"x-request-id": request_id} if request_id else {}
        return error_from_status(status, headers, json.dumps(body), provider=provider, action="batch request")
    error = line.get("error") or {}
    message = error.get("message") if isinstance(error, dict) else str(error)
    return ProviderError(f"batch request failed: {one_line(str(message or 'no reason given'))}", provider=provider)


def check_requests(requests: Sequence[ChatRequest], *, provider: str) -> None:
    """A one-line [`BadRequestError`][tunewise.BadRequestError] unless ``requests`` is a sequence of `ChatRequest`."""
    if isinstance(requests, str | bytes) or not isinstance(requests, Sequence):
        raise BadRequestError(f"a batch takes a list of ChatRequest, not {type(requests).__name__}", provider=provider)
    for index, request in enumerate(requests):
        if not isinstance(request, ChatRequest):
            raise BadRequestError(
                f"requests[{index}]: a batch takes ChatRequest objects, not {type(request).__name__}",
                provider=provider,
            )


class Batches:
    """``provider.batches``: run many chat requests through OpenAI's Batch API."""

    def __init__(
        self,
        http: HTTPClient,
        files: Files,
        *,
        provider: str,
        max_tokens_param: str,
        poll_interval: float = 30.0,
        records: RecordStore | None = None,
    ) -> None:
        self._http = http
        self._files = files
        self._provider = provider
        self._max_tokens_param = max_tokens_param
        self.poll_interval = poll_interval
        self.records = records

    async def submit(
        self, requests: Sequence[ChatRequest], *, metadata: dict[str, str] | None = None, resume: bool = True
    ) -> dict[str, Any]:
        """Upload the requests and create the batch; the batch object (keep its ``id``).

        With ``resume`` (the default), the same requests re-attach to the batch they
        already started, unless it failed, expired or was cancelled.
        """
        check_requests(requests, provider=self._provider)
        if not requests:
            raise BadRequestError("a batch needs at least one request", provider=self._provider)
        if len(requests) > MAX_REQUESTS_PER_BATCH:
            raise BadRequestError(
                f"a batch holds at most {MAX_REQUESTS_PER_BATCH} requests, got {len(requests)}; use run()",
                provider=self._provider,
            )
        ids = custom_ids(requests)
        content = build_jsonl(requests, ids, provider=self._provider, max_tokens_param=self._max_tokens_param)
        key = input_key(self._http.base_url, content)
        if resume:
            existing = await self._recorded(key)
            if existing is not None:
                log.info("batch %s: re-attached (same requests, key %s)", existing.get("id"), key[:12])
                return existing
        upload = await self._files.upload(content, purpose="batch", filename=f"tunewise-batch-{key[:12]}.jsonl")
        body: dict[str, Any] = {
            "input_file_id": upload.id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {**(metadata or {}), MARKER: key},
        }
        batch = await self._create(body, key)
        if self.records is not None:
            self.records.save(key, {"batch_id": batch["id"], "base_url": self._http.base_url, "requests": len(ids)})
        log.info("batch %s: %d requests submitted", batch.get("id"), len(requests))
        return batch

    @shaped("GET batches")
    async def _recorded(self, key: str) -> dict[str, Any] | None:
        record = self.records.load(key) if self.records is not None else None
        if record is None:
            return None
        if not record.get("batch_id"):
            return None
        try:
            batch = await self.retrieve(str(record["batch_id"]))
        except NotFoundError:
            return None
        return None if batch.get("status") in DEAD else batch

    @shaped("POST batches")
    async def _create(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        # As for fine-tune jobs: when the answer to "create" is lost, the batch may exist,
        # so a retry first looks for it by its tag.
        async for attempt in self._http.retrying():
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    page = await self._http.get_json("batches", params={"limit": 100})
                    for item in page.get("data") or []:
                        if (item.get("metadata") or {}).get(MARKER) == key and item.get("status") not in DEAD:
                            found: dict[str, Any] = item
                            return found
                created: dict[str, Any] = await self._http.post_json("batches", body, retry=False)
                str(created["id"])  # a batch without an id is an answer of the wrong shape
                return created
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._http.get_json(f"batches/{batch_id}")
        return data

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._http.post_json(f"batches/{batch_id}/cancel")
        return data

    async def wait(
        self,
        batch_id: str,
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll until the batch ends (completed, failed, expired or cancelled).

        A poll that fails with a retryable error (after the client's own retries) is
        logged and polled again. ``on_poll`` gets the batch object after each poll
        (``status``, ``request_counts``): a progress bar's feed.
        """
        interval = self.poll_interval if poll_interval is None else poll_interval
        deadline = None if timeout is None else time.monotonic() + timeout
        batch: dict[str, Any] = {"id": batch_id, "status": "unknown"}
        while True:
            try:
                batch = await self.retrieve(batch_id)
            except ProviderError as exc:
                if not exc.retryable:
                    raise
                log.warning("batch %s: poll failed, trying again: %s", batch_id, exc)
            else:
                if on_poll is not None:
                    on_poll(batch)
            if batch.get("status") in TERMINAL:
                return batch
            if deadline is not None and time.monotonic() + interval > deadline:
                raise ProviderError(
                    f"batch {batch_id} is still {batch.get('status')} after {timeout} s; "
                    "it keeps running: collect it later with wait() and results()",
                    provider=self._provider,
                )
            await anyio.sleep(interval)

    @shaped("batch results")
    async def results(self, batch: dict[str, Any], requests: Sequence[ChatRequest]) -> list[BatchResult]:
        """Download the output and error files and map them back to ``requests``, in order."""
        if batch.get("status") == "failed":
            errors = (batch.get("errors") or {}).get("data") or [{}]
            reason = errors[0].get("message") or "no reason given"
            raise BadRequestError(f"batch {batch.get('id')} failed: {one_line(str(reason))}", provider=self._provider)
        ids = custom_ids(requests)
        outcomes: dict[str, ChatResponse | ProviderError] = {}
        unreadable = 0
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if not file_id:
                continue
            for raw in (await self._files.content(str(file_id))).splitlines():
                if raw.strip():
                    read = self._result_line(raw)
                    if read is None:
                        unreadable += 1  # its request gets "no result" below, and can be sent again
                    else:
                        outcomes[read[0]] = read[1]
        if unreadable:
            log.warning(
                "batch %s: %d result lines could not be read; their requests have no result",
                batch.get("id"),
                unreadable,
            )
        unknown = set(outcomes) - set(ids)
        if unknown:
            raise BadRequestError(
                f"batch {batch.get('id')} answered {len(unknown)} custom_ids these requests do not have "
                f"(e.g. {sorted(unknown)[0]!r}); pass the same requests, in the same order, as were submitted",
                provider=self._provider,
            )
        results = []
        for custom_id, request in zip(ids, requests, strict=True):
            outcome = outcomes.get(custom_id)
            if isinstance(outcome, ChatResponse):
                results.append(BatchResult(custom_id, request, response=outcome))
            else:
                error = outcome or ProviderError(
                    f"no result: batch {batch.get('id')} ended {batch.get('status')}"
                    + (f" ({unreadable} result lines could not be read)" if unreadable else ""),
                    provider=self._provider,
                )
                results.append(BatchResult(custom_id, request, error=error))
        return results

    def _result_line(self, raw: str | bytes) -> tuple[str, ChatResponse | ProviderError] | None:
        """``(custom_id, outcome)`` of one output or error file line; ``None`` for a line that cannot be read.

        One malformed line (not JSON, not an object, no ``custom_id``, a body of the wrong shape) costs
        its own request only, never the rest of the batch's results.
        """
        try:
            line = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            return None
        try:
            return line["custom_id"], parse_result_line(line, provider=self._provider)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
            error = ProviderError(f"batch result of the wrong shape: {one_line(str(exc))}", provider=self._provider)
            return line["custom_id"], error

    async def run(
        self,
        requests: Sequence[ChatRequest],
        *,
        poll_interval: float | None = None,
        timeout: float | None = None,
        metadata: dict[str, str] | None = None,
        resume: bool = True,
    ) -> list[BatchResult]:
        """Submit, wait for and collect ``requests`` (split into batches of 50,000), in order.

        Running the same requests again re-attaches to their batch (see
        [`submit()`][tunewise_openai._batches.Batches.submit]).
        """
        check_requests(requests, provider=self._provider)
        chunks = [requests[i : i + MAX_REQUESTS_PER_BATCH] for i in range(0, len(requests), MAX_REQUESTS_PER_BATCH)]
        collected: list[list[BatchResult]] = [[] for _ in chunks]

        def one(index: int, chunk: Sequence[ChatRequest]) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                batch = await self.submit(chunk, metadata=metadata, resume=resume)
                done = await self.wait(str(batch["id"]), poll_interval=poll_interval, timeout=timeout)
                collected[index] = await self.results(done, chunk)

            return job

        await run_all([one(i, c) for i, c in enumerate(chunks)], provider=self._provider, action="batch")
        return [result for chunk_results in collected for result in chunk_results]

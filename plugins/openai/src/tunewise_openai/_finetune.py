"""Fine-tuning jobs as tunewise's [`FineTuner`][tunewise.FineTuner] / [`FineTuneJob`][tunewise.FineTuneJob].

Starting is idempotent: the hash of (server, base model, training and validation file
bytes, hyperparameters, suffix, seed) names the job. It is recorded on disk under
``<home>/openai/fine_tune_jobs/`` and also sent as the job's ``metadata``, so a
restart re-attaches to the job already paid for, even when the process died before
the record was written. A job that failed or was cancelled is started afresh.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import anyio

from tunewise import (
    ConfigError,
    DataError,
    FineTuneError,
    FineTuneEvent,
    FineTuneSpec,
    FineTuneStatus,
    ModelRef,
    NotFoundError,
    ProviderError,
)
from tunewise.interfaces.finetune import TERMINAL_STATUSES
from tunewise.plugin import get_logger
from tunewise_openai._errors import shaped
from tunewise_openai._files import Files
from tunewise_openai._http import HTTPClient
from tunewise_openai._records import RecordStore, canonical, input_key

log = get_logger("tunewise.openai.finetune")
MARKER = "tunewise_key"
"""The job ``metadata`` key that carries the idempotency hash."""
_STATUS: dict[str, FineTuneStatus] = {
    "validating_files": "validating_files",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "pausing": "running",
    "paused": "queued",
}
_LEVELS: dict[str, Literal["info", "warn", "error"]] = {
    "info": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
}


def check_training_file(path: Path) -> bytes:
    """The file's bytes, after checking each line is a chat example (one-line `DataError` otherwise)."""
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read training data: {exc.strerror}", path=path) from None
    lines = 0
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            example = json.loads(line)
        except ValueError as exc:
            raise DataError(f"not valid JSON ({exc})", path=path, line=number) from None
        messages = example.get("messages") if isinstance(example, dict) else None
        if not isinstance(messages, list) or not messages:
            raise DataError("each line needs a non-empty 'messages' list", path=path, line=number, field="messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or "role" not in message:
                raise DataError("each message needs a 'role'", path=path, line=number, field=f"messages[{index}]")
    if lines == 0:
        raise DataError("the file has no examples", path=path)
    return content


def job_parameters(spec: FineTuneSpec) -> dict[str, Any]:
    """The job's request body, less the file ids: what the idempotency hash covers."""
    if spec.method != "supervised":
        raise ConfigError(
            f"OpenAI fine-tuning takes method 'supervised' (got {spec.method!r}); "
            "pass options={'method': {...}} for DPO or reinforcement fine-tuning"
        )
    if spec.learning_rate is not None:
        raise ConfigError("OpenAI fine-tuning takes learning_rate_multiplier, not learning_rate")
    hyper = {
        name: value
        for name, value in (
            ("n_epochs", spec.n_epochs),
            ("batch_size", spec.batch_size),
            ("learning_rate_multiplier", spec.learning_rate_multiplier),
        )
        if value is not None
    }
    body: dict[str, Any] = {
        "model": spec.base_model,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    if spec.suffix is not None:
        body["suffix"] = spec.suffix
    if spec.seed is not None:
        body["seed"] = spec.seed
    body.update(spec.options)
    return body


class OpenAIFineTuneJob:
    """A fine-tuning job on the server; the state shown is the last one fetched."""

    def __init__(self, http: HTTPClient, data: dict[str, Any], *, provider: str, poll_interval: float = 5.0) -> None:
        self._http = http
        self._provider = provider
        self.poll_interval = poll_interval
        self.data: dict[str, Any] = data
        self.events_page_size = 100

    def __repr__(self) -> str:
        return f"<OpenAIFineTuneJob {self.id} {self.status}>"

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def status(self) -> FineTuneStatus:
        return _STATUS.get(str(self.data.get("status")), "running")

    @property
    def model(self) -> ModelRef | None:
        name = self.data.get("fine_tuned_model")
        return ModelRef(prefix=self._provider, name=str(name)) if name and self.status == "succeeded" else None

    @property
    def error(self) -> str | None:
        error = self.data.get("error")
        if isinstance(error, dict) and (error.get("message") or error.get("code")):
            return str(error.get("message") or error.get("code"))
        return "cancelled" if self.status == "cancelled" else None

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.data.get("metadata") or {})

    @shaped("GET fine_tuning/jobs")
    async def refresh(self) -> FineTuneStatus:
        self.data = await self._http.get_json(f"fine_tuning/jobs/{self.id}")
        return self.status

    @shaped("GET fine_tuning/jobs/events")
    async def _new_events(self, seen: set[str]) -> list[FineTuneEvent]:
        """Events not seen yet, oldest first (the API pages newest first)."""
        fresh: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": self.events_page_size}
            if after is not None:
                params["after"] = after
            page = await self._http.get_json(f"fine_tuning/jobs/{self.id}/events", params=params)
            items = page.get("data") or []
            reached_seen = False
            for item in items:
                if item["id"] in seen:
                    reached_seen = True
                    break
                fresh.append(item)
            if reached_seen or not items or not page.get("has_more"):
                break
            after = items[-1]["id"]
        events = []
        for item in reversed(fresh):
            seen.add(item["id"])
            events.append(
                FineTuneEvent(
                    id=str(item["id"]),
                    created_at=float(item.get("created_at") or 0),
                    level=_LEVELS.get(str(item.get("level")), "info"),
                    type=str(item.get("type") or "message"),
                    message=str(item.get("message") or ""),
                    data=item.get("data") or {},
                )
            )
        return events

    async def events(self, *, poll_interval: float | None = None) -> AsyncIterator[FineTuneEvent]:
        """Every event once, oldest first, following the job until it ends."""
        interval = self.poll_interval if poll_interval is None else poll_interval
        seen: set[str] = set()
        while True:
            status = await self.refresh()
            for event in await self._new_events(seen):
                yield event
            if status in TERMINAL_STATUSES:
                return
            await anyio.sleep(interval)

    async def wait(self, *, poll_interval: float | None = None, timeout: float | None = None) -> ModelRef:
        """Poll with a growing interval (x1.5 up to 60 s) until the job ends; its model, or FineTuneError.

        A poll that fails with a retryable error (after the client's own retries) is
        logged and polled again: a long wait does not die of one network blip.
        """
        interval = self.poll_interval if poll_interval is None else poll_interval
        ceiling = max(interval, 60.0)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                status = await self.refresh()
            except ProviderError as exc:
                if not exc.retryable:
                    raise
                log.warning("fine-tune job %s: poll failed, trying again: %s", self.id, exc)
                status = self.status
            if status in TERMINAL_STATUSES:
                break
            if deadline is not None and time.monotonic() + interval > deadline:
                raise FineTuneError(
                    f"fine-tune job {self.id} is still {status} after {timeout} s; "
                    "it keeps running: re-attach later with attach(job_id)"
                )
            await anyio.sleep(interval)
            interval = min(interval * 1.5, ceiling)
        if self.model is None:
            raise FineTuneError(f"fine-tune job {self.id} ended {self.status}: {self.error or 'no reason given'}")
        return self.model

    @shaped("POST fine_tuning/jobs/cancel")
    async def cancel(self) -> None:
        if self.status in TERMINAL_STATUSES:
            return
        self.data = await self._http.post_json(f"fine_tuning/jobs/{self.id}/cancel")


class OpenAIFineTuner:
    """``provider.fine_tuner()``: starts jobs idempotently and re-attaches to them by id."""

    def __init__(
        self, http: HTTPClient, files: Files, *, provider: str, home: Path, poll_interval: float = 5.0
    ) -> None:
        self._http = http
        self._files = files
        self._provider = provider
        self.poll_interval = poll_interval
        self.records = RecordStore(home / "openai" / "fine_tune_jobs")

    def _job(self, data: dict[str, Any]) -> OpenAIFineTuneJob:
        str(data["id"])  # a job without an id is an answer of the wrong shape (made one line by @shaped)
        return OpenAIFineTuneJob(self._http, data, provider=self._provider, poll_interval=self.poll_interval)

    def key(self, spec: FineTuneSpec) -> str:
        """The idempotency key of a spec: same inputs, same key."""
        training = check_training_file(spec.training_file)
        validation = check_training_file(spec.validation_file) if spec.validation_file is not None else None
        return input_key(self._http.base_url, canonical(job_parameters(spec)), training, validation)

    @shaped("GET fine_tuning/jobs")
    async def attach(self, job_id: str) -> OpenAIFineTuneJob:
        return self._job(await self._http.get_json(f"fine_tuning/jobs/{job_id}"))

    @shaped("GET fine_tuning/jobs")
    async def find(self, key: str) -> OpenAIFineTuneJob | None:
        """A live (not failed or cancelled) job tagged with ``key``, if the server has one."""
        page = await self._http.get_json("fine_tuning/jobs", params={f"metadata[{MARKER}]": key, "limit": 10})
        for item in page.get("data") or []:
            if (item.get("metadata") or {}).get(MARKER) == key and item.get("status") not in {"failed", "cancelled"}:
                return self._job(item)
        return None

    async def start(self, spec: FineTuneSpec) -> OpenAIFineTuneJob:
        """Start a job for ``spec``, or re-attach to the one these inputs already started."""
        parameters = job_parameters(spec)
        training = await anyio.to_thread.run_sync(check_training_file, spec.training_file)
        validation = None
        if spec.validation_file is not None:
            validation = await anyio.to_thread.run_sync(check_training_file, spec.validation_file)
        key = input_key(self._http.base_url, canonical(parameters), training, validation)
        record = self.records.load(key)
        if record is not None and record.get("job_id"):
            try:
                job = await self.attach(str(record["job_id"]))
            except NotFoundError:
                job = None
            if job is not None and job.status not in {"failed", "cancelled"}:
                log.info("fine-tune: re-attached to job %s (same inputs, key %s)", job.id, key[:12])
                return job
        job = await self.find(key)
        if job is None:
            job = await self._create(spec, parameters, training, validation, key)
        self.records.save(
            key,
            {
                "job_id": job.id,
                "base_url": self._http.base_url,
                "base_model": spec.base_model,
                "training_file": str(spec.training_file),
                "validation_file": str(spec.validation_file) if spec.validation_file else None,
                "parameters": parameters,
                "recorded_at": time.time(),
            },
        )
        return job

    @shaped("POST fine_tuning/jobs")
    async def _create(
        self, spec: FineTuneSpec, parameters: dict[str, Any], training: bytes, validation: bytes | None, key: str
    ) -> OpenAIFineTuneJob:
        training_file = await self._files.upload(training, purpose="fine-tune", filename=spec.training_file.name)
        body = {**parameters, "training_file": training_file.id}
        if validation is not None and spec.validation_file is not None:
            body["validation_file"] = (
                await self._files.upload(validation, purpose="fine-tune", filename=spec.validation_file.name)
            ).id
        body["metadata"] = {**(parameters.get("metadata") or {}), MARKER: key}
        # Creating is retried by hand: when an answer is lost, the job may exist already,
        # so each retry first looks for it by its tag instead of paying for a second one.
        async for attempt in self._http.retrying():
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    found = await self.find(key)
                    if found is not None:
                        return found
                return self._job(await self._http.post_json("fine_tuning/jobs", body, retry=False))
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

"""A scripted, in-memory provider for tests: tunewise's ``httpx.MockTransport``.

It implements the whole [`Provider`][tunewise.Provider] protocol for real (chat, streaming,
stop sequences, max_tokens, embeddings, fine-tune jobs) with answers you script, so
code built on tunewise is tested through its public API without a network or a model.
Token counts are whitespace words plus OpenAI's per-message overhead: an approximation
that is consistent, never zero and never ``None``.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import anyio

from tunewise._errors import BadRequestError, FineTuneError, NotFoundError
from tunewise._refs import ModelRef
from tunewise._types import ChatChunk, ChatRequest, ChatResponse, FinishReason, ToolCall, ToolCallDelta, Usage
from tunewise.interfaces.finetune import (
    TERMINAL_STATUSES,
    FineTuneEvent,
    FineTuneSpec,
    FineTuneStatus,
)
from tunewise.interfaces.provider import BaseProvider, Capability
from tunewise.retrieval import HashingEmbedder

Reply = str | ChatResponse
Handler = Callable[[ChatRequest], Reply | Awaitable[Reply]]


def count_words(text: str) -> int:
    return len(text.split())


class ScriptedProvider(BaseProvider):
    """A provider whose answers come from a script.

    ``script`` is one of:

    - ``None``: echo the last user message;
    - a list of replies, returned in order (an exhausted script raises an error);
    - a function ``request -> str | ChatResponse`` (sync or async), for answers that
      depend on the request, e.g. on ``request.model`` to tell a fine-tuned model apart.

    A [`ChatResponse`][tunewise.ChatResponse] reply is returned as is, so it can carry ``tool_calls``;
    ``stream`` sends them as [`ToolCallDelta`][tunewise.ToolCallDelta] fragments.

    Every request received is kept in `requests`.
    """

    def __init__(
        self,
        script: Handler | Iterable[Reply] | None = None,
        *,
        name: str = "scripted",
        latency: float = 0.0,
        capabilities: Iterable[Capability] = ("chat", "stream", "embed", "fine_tune", "structured_output"),
        known_models: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.capabilities = frozenset(capabilities)
        self.latency = latency
        self.known_models = set(known_models) if known_models is not None else None
        self.requests: list[ChatRequest] = []
        self.closed = False
        """Whether `aclose()` was called (to test who closes a provider, and when)."""
        self._handler: Handler
        if script is None:
            self._handler = _echo
        elif callable(script):
            self._handler = script
        else:
            replies = iter(list(script))

            def next_reply(request: ChatRequest) -> Reply:
                try:
                    return next(replies)
                except StopIteration:
                    raise BadRequestError("the script has no more replies", provider=self.name) from None

            self._handler = next_reply
        self._tuner: ScriptedFineTuner | None = None

    async def aclose(self) -> None:
        self.closed = True

    async def _answer(self, request: ChatRequest) -> tuple[ChatResponse, float]:
        started = time.perf_counter()
        self._check_model(request.model)
        self.requests.append(request)
        if self.latency:
            await anyio.sleep(self.latency)
        reply = self._handler(request)
        if inspect.isawaitable(reply):
            reply = await reply
        if isinstance(reply, ChatResponse):
            return reply, started
        text, finish = _apply_limits(reply, request)
        usage = Usage(
            prompt_tokens=sum(count_words(m.content or "") + 3 for m in request.messages) + 3,
            completion_tokens=count_words(text),
            cached_prompt_tokens=0,
        )
        response = ChatResponse(
            text=text,
            model=request.model,
            finish_reason=finish,
            usage=usage,
            request_id=f"req_{hashlib.sha1(request.fingerprint().encode()).hexdigest()[:12]}",
        )
        return response, started

    def _check_model(self, model: str) -> None:
        base = model.split("+", 1)[0]
        if self.known_models is not None and base not in self.known_models and not base.startswith("ft:"):
            raise NotFoundError(f"model {model!r} does not exist", status=404, provider=self.name)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response, started = await self._answer(request)
        if response.latency_s is None:
            response = response.model_copy(update={"latency_s": time.perf_counter() - started})
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """The answer ``chat`` gives, word by word.

        Its tool calls follow the text as fragments (id and name first, then the arguments in pieces),
        as OpenAI streams them.
        """
        response, _ = await self._answer(request)
        pieces = re.findall(r"\s*\S+", response.text) or [""]
        last = pieces.pop()
        calls = [fragment for i, call in enumerate(response.tool_calls or ()) for fragment in _fragments(call, i)]
        if calls and last:  # all the text goes before the calls
            pieces.append(last)
            last = ""
        for piece in pieces:
            yield ChatChunk(delta=piece, model=response.model, request_id=response.request_id)
        for fragment in calls:
            yield ChatChunk(model=response.model, request_id=response.request_id, tool_calls=(fragment,))
        yield ChatChunk(
            delta=last,
            finish_reason=response.finish_reason,
            usage=response.usage,
            model=response.model,
            request_id=response.request_id,
        )

    def embedder(self, model: str = "hashing-64") -> HashingEmbedder:
        if "embed" not in self.capabilities:
            return super().embedder(model)  # type: ignore[return-value]
        return HashingEmbedder()

    def fine_tuner(self) -> ScriptedFineTuner:
        if "fine_tune" not in self.capabilities:
            return super().fine_tuner()  # type: ignore[return-value]
        if self._tuner is None:
            self._tuner = ScriptedFineTuner(self)
        return self._tuner


def _echo(request: ChatRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.content:
            return message.content
    return ""


def _fragments(call: ToolCall, index: int) -> list[ToolCallDelta]:
    """A tool call as a stream carries it: an opening fragment, then the arguments 8 characters at a time."""
    arguments = call.function.arguments
    opener = ToolCallDelta(index=index, id=call.id, name=call.function.name)
    return [opener, *(ToolCallDelta(index=index, arguments=arguments[i : i + 8]) for i in range(0, len(arguments), 8))]


def _apply_limits(text: str, request: ChatRequest) -> tuple[str, FinishReason]:
    finish: FinishReason = "stop"
    for stop in request.stop or ():
        if stop and stop in text:
            text = text[: text.index(stop)]
    if request.max_tokens is not None:
        words = re.findall(r"\s*\S+", text)
        if len(words) > request.max_tokens:
            text, finish = "".join(words[: request.max_tokens]), "length"
    return text, finish


_PROGRESSION: tuple[FineTuneStatus, ...] = ("validating_files", "queued", "running", "running", "succeeded")


class ScriptedJob:
    """A fine-tune job that moves one status forward each time it is refreshed."""

    def __init__(self, tuner: ScriptedFineTuner, job_id: str, spec: FineTuneSpec) -> None:
        self._tuner = tuner
        self._id = job_id
        self.spec = spec
        self._step = 0
        self._status: FineTuneStatus = _PROGRESSION[0]
        self._events: list[FineTuneEvent] = []
        self._log(f"Created fine-tuning job {job_id}")

    def _log(self, message: str, **data: Any) -> None:
        self._events.append(
            FineTuneEvent(id=f"{self._id}-ev{len(self._events)}", created_at=time.time(), message=message, data=data)
        )

    @property
    def id(self) -> str:
        return self._id

    @property
    def status(self) -> FineTuneStatus:
        return self._status

    @property
    def model(self) -> ModelRef | None:
        if self._status != "succeeded":
            return None
        suffix = self.spec.suffix or "custom"
        return ModelRef(prefix=self._tuner.provider.name, name=f"ft:{self.spec.base_model}:{suffix}:{self._id}")

    @property
    def error(self) -> str | None:
        return "cancelled by user" if self._status == "cancelled" else None

    async def refresh(self) -> FineTuneStatus:
        if self._status not in TERMINAL_STATUSES:
            self._step += 1
            self._status = _PROGRESSION[min(self._step, len(_PROGRESSION) - 1)]
            if self._status == "running":
                self._log(
                    f"Step {self._step}: training loss={1.0 / self._step:.3f}", step=self._step, loss=1.0 / self._step
                )
            else:
                self._log(f"Job is {self._status}")
        return self._status

    async def events(self) -> AsyncIterator[FineTuneEvent]:
        seen = 0
        while True:
            while seen < len(self._events):
                yield self._events[seen]
                seen += 1
            if self._status in TERMINAL_STATUSES:
                return
            await self.refresh()

    async def wait(self, *, poll_interval: float = 0.0, timeout: float | None = None) -> ModelRef:
        with anyio.fail_after(timeout):
            while await self.refresh() not in TERMINAL_STATUSES:
                await anyio.sleep(poll_interval)
        if self.model is None:
            raise FineTuneError(f"fine-tune job {self._id} ended {self._status}")
        return self.model

    async def cancel(self) -> None:
        if self._status not in TERMINAL_STATUSES:
            self._status = "cancelled"
            self._log("Job cancelled")


class ScriptedFineTuner:
    """Starts [`ScriptedJob`][tunewise.testing.ScriptedJob]s; ``attach`` finds them again by id."""

    def __init__(self, provider: ScriptedProvider) -> None:
        self.provider = provider
        self.jobs: dict[str, ScriptedJob] = {}
        self._ids = itertools.count(1)

    async def start(self, spec: FineTuneSpec) -> ScriptedJob:
        if not spec.training_file.is_file():
            raise FineTuneError(f"training file {spec.training_file} does not exist")
        job = ScriptedJob(self, f"ftjob-{next(self._ids):04d}", spec)
        self.jobs[job.id] = job
        return job

    async def attach(self, job_id: str) -> ScriptedJob:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFoundError(f"no fine-tune job {job_id!r}", status=404, provider=self.provider.name) from None

"""The provider conformance suite: proof that a provider keeps the protocol's promises.

Subclass [`ProviderConformance`][tunewise.testing.ProviderConformance] in a test module of your plugin; pytest collects
it through your ``Test...`` subclass and runs every check as its own test::

    from tunewise.testing import ProviderConformance

    class TestMyProvider(ProviderConformance):
        model = "my-model"

        def make_provider(self):
            return MyProvider(...)

Each check runs in its own event loop (``anyio.run``) with a fresh provider, so no
pytest async plugin is needed; the event-loop checks use one provider from several loops
(``asyncio.run`` one after another, and a running loop calling ``Model.sync``). The suite
does not import pytest; checks are plain ``assert`` statements with messages that say
which promise broke.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, get_args

import anyio

from tunewise._errors import CapabilityError, TunewiseError
from tunewise._model import Model
from tunewise._refs import ModelRef
from tunewise._types import ChatChunk, ChatRequest, ChatResponse, FinishReason, Message, Usage
from tunewise.interfaces.embedder import Embedder
from tunewise.interfaces.finetune import TERMINAL_STATUSES, FineTuneJob, FineTuner, FineTuneSpec
from tunewise.interfaces.provider import Capability, Provider, ProviderPlugin

_FINISH = set(get_args(FinishReason))
_CAPABILITIES = set(get_args(Capability))


def _check_usage(usage: Usage, where: str) -> None:
    assert isinstance(usage, Usage), f"{where}: usage must be a tunewise.Usage, got {type(usage).__name__}"
    for field in ("prompt_tokens", "completion_tokens", "cached_prompt_tokens"):
        value = getattr(usage, field)
        assert value is None or (isinstance(value, int) and value >= 0), (
            f"{where}: usage.{field} must be None (unknown) or a non-negative int, got {value!r}"
        )


def _plugin_of(provider: Provider) -> ProviderPlugin | None:
    """The installed plugin whose entry point lives in the provider's top-level package, if one does."""
    from importlib import metadata

    from tunewise._registry import ENTRY_POINT_GROUP, load_plugin

    package = type(provider).__module__.partition(".")[0]
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.module.partition(".")[0] == package and package != "tunewise":
            return load_plugin(entry.name)
    return None


class ProviderConformance:
    """Checks every provider plugin should pass. Override the attributes that apply."""

    model: str = ""
    """A model name the provider serves (what goes in ``ChatRequest.model``)."""
    prompt: str = "Say hello in five words."
    missing_model: str | None = None
    """A model name the provider must reject with a tunewise error (None: skip)."""
    embedding_model: str = ""
    secret: str | None = None
    """An API key the provider was given: it must appear in no repr or error."""
    concurrency: int = 8
    tool: dict[str, Any] | None = None
    """A tool (OpenAI's ``tools[]`` item) the model calls when offered it with ``prompt`` (None: skip)."""

    def make_provider(self) -> Provider:
        raise NotImplementedError  # abstract: a plugin's test class returns its provider

    def fine_tune_spec(self, workdir: Path) -> FineTuneSpec | None:
        """A small spec to train end to end, or None to check only the interface."""
        return None

    # -- harness ----------------------------------------------------------------------

    def _run(self, check: Callable[[Provider], Awaitable[None]]) -> None:
        async def main() -> None:
            provider = self.make_provider()
            try:
                await check(provider)
            finally:
                await provider.aclose()

        anyio.run(main)

    def _request(self, **options: Any) -> ChatRequest:
        return ChatRequest(model=self.model, messages=(Message.user(self.prompt),), **options)

    # -- checks -----------------------------------------------------------------------

    def test_declares_capabilities(self) -> None:
        async def check(provider: Provider) -> None:
            assert isinstance(provider, Provider), "provider does not implement the tunewise.Provider protocol"
            assert isinstance(provider.name, str) and provider.name, "provider.name must be a non-empty str"
            caps = provider.capabilities
            assert isinstance(caps, frozenset), "capabilities must be a frozenset"
            assert caps <= _CAPABILITIES, f"unknown capabilities {sorted(caps - _CAPABILITIES)}"
            assert {"chat", "stream"} <= caps, "every provider must declare chat and stream"

        self._run(check)

    def test_capabilities_match_the_plugin(self) -> None:
        """The provider class and its plugin's entry point declare the same capabilities.

        ``tunewise providers`` shows the plugin's without creating a provider.
        """

        async def check(provider: Provider) -> None:
            plugin = _plugin_of(provider)
            if plugin is not None:
                declared = sorted(plugin.capabilities)
                assert declared == sorted(provider.capabilities), (
                    f"the plugin declares {declared}, its provider {sorted(provider.capabilities)}"
                )

        self._run(check)

    def test_chat_returns_a_complete_response(self) -> None:
        async def check(provider: Provider) -> None:
            response = await provider.chat(self._request(temperature=0, max_tokens=32))
            assert isinstance(response, ChatResponse), f"chat returned {type(response).__name__}"
            assert isinstance(response.text, str), "response.text must be a str"
            assert response.model, "response.model must name the model that answered"
            assert response.finish_reason in _FINISH, f"finish_reason {response.finish_reason!r} is not allowed"
            assert response.latency_s is None or response.latency_s >= 0, "latency_s must be >= 0"
            _check_usage(response.usage, "chat")

        self._run(check)

    def test_max_tokens_is_respected(self) -> None:
        async def check(provider: Provider) -> None:
            response = await provider.chat(self._request(temperature=0, max_tokens=2))
            used = response.usage.completion_tokens
            assert used is None or used <= 2, f"max_tokens=2 but completion_tokens={used}"
            assert response.finish_reason in ("length", "stop"), (
                f"an answer limited by max_tokens must finish 'length' or 'stop', not {response.finish_reason!r}"
            )

        self._run(check)

    def test_stop_sequences_are_not_returned(self) -> None:
        async def check(provider: Provider) -> None:
            reference = await provider.chat(self._request(temperature=0, seed=7, max_tokens=32))
            words = reference.text.split()
            stop = words[len(words) // 2] if len(words) > 1 else "\n"
            response = await provider.chat(self._request(temperature=0, seed=7, max_tokens=32, stop=(stop,)))
            assert stop not in response.text, f"stop sequence {stop!r} appears in the answer {response.text!r}"

        self._run(check)

    def test_stream_ends_with_one_final_chunk(self) -> None:
        async def check(provider: Provider) -> None:
            chunks: list[ChatChunk] = [c async for c in provider.stream(self._request(temperature=0, max_tokens=32))]
            assert chunks, "stream yielded no chunks"
            assert all(isinstance(c, ChatChunk) for c in chunks), "stream must yield tunewise.ChatChunk"
            finals = [i for i, c in enumerate(chunks) if c.finish_reason is not None]
            assert finals == [len(chunks) - 1], (
                f"exactly the last chunk must carry finish_reason; found it on chunks {finals} of {len(chunks)}"
            )
            assert chunks[-1].finish_reason in _FINISH
            assert all(c.usage is None for c in chunks[:-1]), "only the last chunk may carry usage"
            if chunks[-1].usage is not None:
                _check_usage(chunks[-1].usage, "stream")
            try:
                ChatResponse.from_chunks(chunks)
            except TunewiseError as exc:
                raise AssertionError(f"the stream's chunks do not assemble into an answer: {exc}") from None

        self._run(check)

    def test_streamed_tool_calls_match_chat(self) -> None:
        if self.tool is None:
            return

        async def check(provider: Provider) -> None:
            request = self._request(tools=(self.tool,), temperature=0, seed=7)
            answer = await provider.chat(request)
            streamed = ChatResponse.from_chunks([c async for c in provider.stream(request)])
            assert answer.tool_calls, "chat did not call the offered tool: choose a prompt and tool it calls"
            assert streamed.tool_calls, "chat called the tool, but the stream carried no tool call"
            names = [c.function.name for c in answer.tool_calls]
            assert [c.function.name for c in streamed.tool_calls] == names, (
                f"the stream called {[c.function.name for c in streamed.tool_calls]}, chat called {names}"
            )
            assert streamed.finish_reason == answer.finish_reason == "tool_calls", (
                f"an answer that calls tools must finish 'tool_calls' (chat: {answer.finish_reason!r}, "
                f"stream: {streamed.finish_reason!r})"
            )
            for call in streamed.tool_calls:
                try:
                    json.loads(call.function.arguments)
                except ValueError:
                    raise AssertionError(f"streamed arguments are not JSON: {call.function.arguments!r}") from None

        self._run(check)

    def test_answers_from_one_event_loop_after_another(self) -> None:
        provider = self.make_provider()
        request = self._request(temperature=0, max_tokens=8)

        async def streamed() -> list[ChatChunk]:
            return [chunk async for chunk in provider.stream(request)]

        try:
            for run in range(1, 3):
                try:
                    answer = asyncio.run(provider.chat(request))
                except RuntimeError as exc:  # "Event loop is closed", "attached to a different loop"...
                    raise AssertionError(f"chat failed in event loop {run} of 2: {exc!r}") from None
                assert isinstance(answer, ChatResponse), f"chat in event loop {run} returned {type(answer).__name__}"
            chunks = anyio.run(streamed)
            assert chunks and chunks[-1].finish_reason is not None, "a stream in a third event loop did not finish"
        finally:
            asyncio.run(provider.aclose())

    def test_sync_facade_answers_inside_a_running_loop(self) -> None:
        provider = self.make_provider()
        model = Model(ModelRef(prefix="conformance", name=self.model), provider)

        async def notebook_cell() -> tuple[ChatResponse, list[ChatChunk], ChatResponse]:
            # a notebook cell: a running loop, blocking calls through model.sync, then an await on this loop
            answer = model.sync.chat(self.prompt, temperature=0, max_tokens=8)
            chunks = list(model.sync.stream(self.prompt, temperature=0, max_tokens=8))
            awaited = await model.chat(self.prompt, temperature=0, max_tokens=8)
            return answer, chunks, awaited

        try:
            answer, chunks, awaited = asyncio.run(notebook_cell())
            assert isinstance(answer, ChatResponse), "model.sync.chat must return a ChatResponse"
            assert chunks and chunks[-1].finish_reason is not None, "model.sync.stream must end with a final chunk"
            assert isinstance(awaited, ChatResponse), "after model.sync, an awaited chat on the running loop failed"
            model.sync.close()  # stops the facade's loop; the provider is not the model's to close
            again = asyncio.run(provider.chat(self._request(temperature=0, max_tokens=8)))
            assert isinstance(again, ChatResponse), "the provider must still answer once the facade's loop is gone"
        finally:
            asyncio.run(provider.aclose())

    def test_concurrent_calls_all_answer(self) -> None:
        async def check(provider: Provider) -> None:
            results: list[ChatResponse] = []

            async def one() -> None:
                results.append(await provider.chat(self._request(max_tokens=8)))

            async with anyio.create_task_group() as tg:
                for _ in range(self.concurrency):
                    tg.start_soon(one)
            assert len(results) == self.concurrency, "some concurrent calls did not answer"

        self._run(check)

    def test_unknown_model_is_a_tunewise_error(self) -> None:
        if self.missing_model is None:
            return

        async def check(provider: Provider) -> None:
            request = ChatRequest(model=self.missing_model or "", messages=(Message.user("hi"),))
            try:
                await provider.chat(request)
            except TunewiseError as exc:
                assert str(exc).count("\n") == 0, f"error message must be one line: {exc!r}"
                return
            raise AssertionError(f"chat with unknown model {self.missing_model!r} did not raise a TunewiseError")

        self._run(check)

    def test_embed_capability_is_honest(self) -> None:
        async def check(provider: Provider) -> None:
            if "embed" not in provider.capabilities:
                try:
                    provider.embedder(self.embedding_model)
                except CapabilityError:
                    return
                raise AssertionError("embedder() must raise CapabilityError when 'embed' is not declared")
            embedder = provider.embedder(self.embedding_model)
            assert isinstance(embedder, Embedder), "embedder() must return a tunewise.Embedder"
            vectors = await embedder.embed(["refund policy", "reset my password"])
            assert len(vectors) == 2, "embed must return one vector per text"
            assert len(vectors[0]) == len(vectors[1]) > 0, "vectors must share one non-zero length"
            if embedder.dimension is not None:
                assert len(vectors[0]) == embedder.dimension, "vector length differs from declared dimension"
            assert await embedder.embed([]) == [], "embedding no texts must return []"

        self._run(check)

    def test_fine_tune_capability_is_honest(self) -> None:
        async def check(provider: Provider) -> None:
            if "fine_tune" not in provider.capabilities:
                try:
                    provider.fine_tuner()
                except CapabilityError:
                    return
                raise AssertionError("fine_tuner() must raise CapabilityError when 'fine_tune' is not declared")
            tuner = provider.fine_tuner()
            assert isinstance(tuner, FineTuner), "fine_tuner() must return a tunewise.FineTuner"
            with tempfile.TemporaryDirectory() as tmp:
                spec = self.fine_tune_spec(Path(tmp))
                if spec is None:
                    return
                job = await tuner.start(spec)
                assert isinstance(job, FineTuneJob), "start() must return a tunewise.FineTuneJob"
                again = await tuner.attach(job.id)
                assert again.id == job.id, "attach(job.id) must return the same job"
                event_ids = [e.id async for e in job.events()]
                assert len(event_ids) == len(set(event_ids)), "events() yielded an event twice"
                ref = await job.wait(poll_interval=0.01, timeout=600)
                assert job.status in TERMINAL_STATUSES
                answer = await provider.chat(
                    ChatRequest(model=ref.model, messages=(Message.user(self.prompt),), max_tokens=8)
                )
                assert isinstance(answer, ChatResponse), "the fine-tuned model must answer"

        self._run(check)

    def test_secret_never_shows(self) -> None:
        if not self.secret:
            return

        async def check(provider: Provider) -> None:
            secret = self.secret or ""
            assert secret not in repr(provider), "the API key appears in repr(provider)"
            assert secret not in str(provider), "the API key appears in str(provider)"
            if self.missing_model is not None:
                try:
                    await provider.chat(ChatRequest(model=self.missing_model, messages=(Message.user("hi"),)))
                except Exception as exc:
                    assert secret not in str(exc) and secret not in repr(exc), "the API key appears in an error"

        self._run(check)

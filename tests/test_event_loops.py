"""One ``tunewise.model`` used from several event loops, inside a running loop and without one (``model.sync``).

Each test runs against two real providers: the OpenAI plugin over loopback HTTP to its fake server,
and the local plugin with a tiny model built here. Before this, the second ``asyncio.run`` failed with
``RuntimeError: Event loop is closed`` (httpx clients bound to the first loop).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

import tunewise
from tunewise import ChatChunk, ChatResponse, Model

SECRET = "sk-loops-0123456789abcdef0123456789"
FAST = {"timeout": 5.0, "connect_timeout": 5.0, "backoff_initial": 0.002, "backoff_max": 0.02}


@pytest.fixture(scope="module")
def fake_base_url() -> Iterator[str]:
    fake = pytest.importorskip("tunewise_openai.fake")
    with fake.run_fake_openai(api_key=SECRET) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tiny = pytest.importorskip("tunewise_local.tiny")
    path: Path = tiny.build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", tiny.DEFAULT_CORPUS, seed=0)
    return path


@pytest.fixture(params=["openai", "local"])
def model(request: pytest.FixtureRequest) -> Iterator[Model]:
    """A model of each plugin, closed at the end (from a loop of its own, as a script would)."""
    if request.param == "openai":
        base_url = request.getfixturevalue("fake_base_url")
        made = tunewise.model("openai:gpt-4o-mini", base_url=base_url, api_key=SECRET, **FAST)
    else:
        tiny = request.getfixturevalue("tiny_model")
        made = tunewise.model(f"local:{tiny}", device="cpu", max_tokens=4)
    yield made
    asyncio.run(made.aclose())


def _threads(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def test_one_model_answers_from_one_asyncio_run_after_another(model: Model) -> None:
    for _ in range(3):
        answer = asyncio.run(model.chat("Say hello.", max_tokens=4))
        assert isinstance(answer, ChatResponse) and answer.finish_reason in ("stop", "length")


def test_one_model_answers_from_one_anyio_run_after_another(model: Model) -> None:
    async def both() -> tuple[ChatResponse, list[ChatChunk]]:
        answer = await model.chat("Say hello.", max_tokens=4)
        chunks = [chunk async for chunk in model.stream("Say hello.", max_tokens=4)]
        return answer, chunks

    for _ in range(2):
        answer, chunks = anyio.run(both)
        assert answer.finish_reason in ("stop", "length")
        assert chunks[-1].finish_reason in ("stop", "length")


def test_a_running_loop_can_await_and_use_the_sync_facade(model: Model) -> None:
    """What a notebook does: a loop is running, and cells both ``await`` and call ``model.sync``."""

    async def cell() -> tuple[ChatResponse, ChatResponse, list[ChatChunk]]:
        awaited = await model.chat("Say hello.", max_tokens=4)
        blocking = model.sync.chat("Say hello.", max_tokens=4)
        streamed = list(model.sync.stream("Say hello.", max_tokens=4))
        return awaited, blocking, streamed

    for _ in range(2):  # two cells, each in a loop of its own
        awaited, blocking, streamed = asyncio.run(cell())
        assert awaited.finish_reason in ("stop", "length") and blocking.finish_reason in ("stop", "length")
        assert streamed[-1].finish_reason in ("stop", "length")


def test_sync_facade_in_a_script_keeps_one_loop(model: Model) -> None:
    before = _threads("tunewise-sync-")
    answers = [model.sync.chat("Say hello.", max_tokens=4) for _ in range(4)]
    chunks = list(model.sync.stream("Say hello.", max_tokens=4))
    assert all(a.finish_reason in ("stop", "length") for a in answers)
    assert ChatResponse.from_chunks(chunks).finish_reason in ("stop", "length")
    assert _threads("tunewise-sync-") == before + 1, "repeated sync calls must share one loop, not start one each"
    assert model.sync is model.sync
    model.sync.close()
    assert _threads("tunewise-sync-") == before, "close() must stop the facade's loop"
    assert model.closed


def test_sync_facade_from_a_thread_whose_loop_is_running(model: Model) -> None:
    results: list[Any] = []

    def worker() -> None:
        async def main() -> None:
            results.append(model.sync.chat("Say hello.", max_tokens=4))

        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test thread
            results.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    [result] = results
    assert isinstance(result, ChatResponse), f"sync call from a thread running a loop failed: {result!r}"


def test_a_stream_closed_early_stops_and_the_model_still_answers(model: Model) -> None:
    with model.sync.stream("Tell me a long story.", max_tokens=4) as stream:
        first = next(stream)
    assert isinstance(first, ChatChunk)
    assert list(stream) == [], "a closed stream yields nothing more"
    assert model.sync.chat("Say hello.", max_tokens=4).finish_reason in ("stop", "length")


@pytest.mark.anyio
async def test_a_model_made_in_one_loop_answers_in_the_test_loop_and_another(model: Model) -> None:
    """pytest-anyio's loop, then a loop in a worker thread, then this loop again."""
    first = await model.chat("Say hello.", max_tokens=4)
    in_thread = await anyio.to_thread.run_sync(lambda: asyncio.run(model.chat("Say hello.", max_tokens=4)))
    again = await model.chat("Say hello.", max_tokens=4)
    assert {first.finish_reason, in_thread.finish_reason, again.finish_reason} <= {"stop", "length"}


class Greeting(BaseModel):
    greeting: str


def test_sync_parse_over_http(fake_base_url: str) -> None:
    with tunewise.model("openai:gpt-4o-mini", base_url=fake_base_url, api_key=SECRET, **FAST).sync as m:
        parsed = m.parse("Greet me.", Greeting)
        assert isinstance(parsed, Greeting)
        assert m.parse("Greet me again.", Greeting) is not None
    assert m.model.closed


def test_the_shared_default_model_answers_across_loops_and_in_a_script() -> None:
    """``tunewise.model(ref)`` with no arguments: the process-wide registry's provider, from any loop."""
    m = tunewise.model("scripted:echo")
    assert asyncio.run(m.chat("one")).text == "one"
    assert anyio.run(m.chat, "two").text == "two"
    assert m.sync.chat("three").text == "three"
    m.sync.close()

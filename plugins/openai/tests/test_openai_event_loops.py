"""One provider across event loops: sequential ``asyncio.run`` / ``anyio.run`` calls, and threads.

Connections and limiters belong to the loop that opened them; the provider builds them
for whichever loop runs the call, so a script (or a sync facade) may call it from one
``asyncio.run`` after another.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import pytest

from tunewise import ChatRequest, Message
from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer

from .conftest import FAST, SECRET


def ask(text: str) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message.user(text),), max_tokens=20)


async def use_everything(provider: OpenAIProvider, n: int) -> tuple[str, str, int]:
    """A unary call, a stream and an embedding, as one loop's work."""
    answer = await provider.chat(ask(f"unary {n}"))
    streamed = "".join([c.delta async for c in provider.stream(ask(f"streamed {n}"))])
    vectors = await provider.embedder("text-embedding-3-small", dimensions=8).embed([f"text {n}", "other"])
    return answer.text, streamed, len(vectors)


def runners() -> list[tuple[str, Callable[[Callable[[], Coroutine[Any, Any, Any]]], Any]]]:
    return [
        ("asyncio.run", lambda main: asyncio.run(main())),
        ("anyio.run", lambda main: anyio.run(main)),
    ]


@pytest.mark.parametrize(("name", "run"), runners(), ids=[name for name, _ in runners()])
def test_one_provider_serves_sequential_event_loops(fake: FakeServer, name: str, run: Any) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options={**FAST, "max_concurrency": 4})
    for n in range(3):
        assert run(lambda n=n: use_everything(provider, n)) == (f"You said: unary {n}", f"You said: streamed {n}", 2)
    stats = fake.stats()["requests_by_path"]
    assert stats["/v1/chat/completions"] == 6 and stats["/v1/embeddings"] == 3


def test_asyncio_and_anyio_loops_can_alternate_with_rate_limits(fake: FakeServer) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options={**FAST, "rpm": 1000, "tpm": 100_000})
    texts = [
        asyncio.run(provider.chat(ask("first"))).text,
        anyio.run(provider.chat, ask("second")).text,
        asyncio.run(provider.chat(ask("third"))).text,
    ]
    assert texts == ["You said: first", "You said: second", "You said: third"]


def test_a_finished_loop_leaves_no_connection_open(fake: FakeServer) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options=FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(3):
            asyncio.run(use_everything(provider, n))
        del provider
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_loops_in_two_threads_share_one_provider(fake: FakeServer) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options={**FAST, "max_concurrency": 2})
    results: dict[int, tuple[str, str, int]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            results[n] = asyncio.run(use_everything(provider, n))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == {n: (f"You said: unary {n}", f"You said: streamed {n}", 2) for n in range(4)}


@pytest.mark.anyio
async def test_aclose_then_reuse_opens_fresh_connections(fake: FakeServer) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options=FAST)
    async with provider:
        assert (await provider.chat(ask("before"))).text == "You said: before"
    assert (await provider.chat(ask("after"))).text == "You said: after"
    await provider.aclose()

"""``stream_calls``: strategies' model calls streamed to a callback, the answers unchanged; and the wire helpers."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tunewise import ChatChunk, ChatRequest, Model, ModelRef
from tunewise.evaluation import ResponseCache, use_cache
from tunewise.serve import BackgroundServer, create_app
from tunewise.serve._wire import text_pieces
from tunewise.strategies import ChainOfThought, ChunkSink, FewShot, RagFineTuned, ZeroShot, stream_calls
from tunewise.testing import HashingEmbedder, InMemoryRetriever, ScriptedProvider


def model(provider: ScriptedProvider) -> Model:
    return Model(ModelRef.parse("scripted:demo"), provider)


def collector(into: list[ChatChunk]) -> ChunkSink:
    async def sink(chunk: ChatChunk) -> None:
        into.append(chunk)

    return sink


def reply(request: ChatRequest) -> str:
    return "Refunds take 14 days [1] and arrive on the original card."


@pytest.mark.anyio
async def test_streamed_answers_equal_plain_ones() -> None:
    kb = InMemoryRetriever([{"id": "r", "text": "refunds take 14 days", "source": "refunds.md"}], HashingEmbedder(64))
    strategies = [
        ZeroShot(model(ScriptedProvider(reply)), name="zero"),
        FewShot(model(ScriptedProvider(reply)), [("q", "a")], name="few"),
        RagFineTuned(model(ScriptedProvider(reply)), kb, threshold=-1.0, name="ragft"),
    ]
    for strategy in strategies:
        plain = await strategy.respond("how long do refunds take")
        chunks: list[ChatChunk] = []
        with stream_calls(collector(chunks)):
            streamed = await strategy.respond("how long do refunds take")
        assert len(chunks) == len(plain.text.split())  # the scripted provider streams word by word
        assert "".join(c.delta for c in chunks) == plain.text == streamed.text
        assert streamed.usage == plain.usage and streamed.requests == plain.requests
        assert streamed.hits == plain.hits and streamed.response.finish_reason == "stop"
        assert chunks[-1].usage == plain.usage


@pytest.mark.anyio
async def test_options_override_and_outside_the_block_nothing_changes() -> None:
    provider = ScriptedProvider()
    strategy = ZeroShot(model(provider), temperature=0.9, max_tokens=50)
    with stream_calls(options={"temperature": 0.1, "max_tokens": 2}):
        answer = await strategy.respond("one two three")
    assert (provider.requests[-1].temperature, provider.requests[-1].max_tokens) == (0.1, 2)
    assert answer.text == "one two" and answer.response.finish_reason == "length"
    await strategy.respond("one two three")
    assert (provider.requests[-1].temperature, provider.requests[-1].max_tokens) == (0.9, 50)


@pytest.mark.anyio
async def test_chain_of_thought_does_not_claim_to_stream_its_answer() -> None:
    assert ChainOfThought.streams_answer is False and ZeroShot.streams_answer is True
    chunks: list[str] = []

    async def sink(chunk: ChatChunk) -> None:
        chunks.append(chunk.delta)

    cot = ChainOfThought(model(ScriptedProvider(lambda r: "Reasoning here.\nAnswer: 5")))
    with stream_calls(sink):
        answer = await cot.respond("2+3?")
    assert answer.text == "5" and "".join(chunks) == "Reasoning here.\nAnswer: 5"  # the call streamed, not the answer


@pytest.mark.anyio
async def test_a_cached_call_is_replayed_not_streamed(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    strategy = ZeroShot(model(ScriptedProvider()))
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        with use_cache(cache):
            first = await strategy.respond("cache me")
            chunks: list[ChatChunk] = []

            async def sink(chunk: ChatChunk) -> None:
                chunks.append(chunk)

            with stream_calls(sink):
                second = await strategy.respond("cache me")
    finally:
        cache.close()
    assert chunks == [] and second.text == first.text == "cache me"


@pytest.mark.anyio
async def test_each_call_record_says_whether_the_cache_replayed_it_and_what_it_first_cost(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    provider = ScriptedProvider()
    strategy = ZeroShot(model(provider))
    cache = ResponseCache(tmp_path / "cache.sqlite")
    try:
        with use_cache(cache):
            first = await strategy.respond("price me")
            (fresh,) = first.calls
            assert fresh.cache_key is not None
            cache.set_cost(fresh.cache_key, 0.25)
            (replayed,) = (await strategy.respond("price me")).calls
            with use_cache(None):  # the innermost use_cache wins: no cache here
                (uncached,) = (await strategy.respond("price me")).calls
    finally:
        cache.close()
    assert (fresh.model_ref, fresh.cached, fresh.cost) == ("scripted:demo", False, None)
    assert (replayed.cached, replayed.cost, replayed.cache_key) == (True, 0.25, fresh.cache_key)
    assert replayed.response == fresh.response and replayed.request == fresh.request
    assert (uncached.cached, uncached.cache_key) == (False, None)
    assert len(provider.requests) == 2  # the replay was not sent; the uncached call was


def test_strategies_import_nothing_from_evaluation() -> None:
    code = (
        "import sys, tunewise.strategies; print(sorted(m for m in sys.modules if m.startswith('tunewise.evaluation')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@given(st.text(alphabet=st.sampled_from("ab \n"), max_size=200), st.integers(min_value=1, max_value=40))
def test_text_pieces_rebuild_the_text(text: str, size: int) -> None:
    pieces = text_pieces(text, size)
    assert "".join(pieces) == text
    assert all(piece for piece in pieces)


class Counting(ScriptedProvider):
    """Records the most calls it had in flight at once."""

    def __init__(self) -> None:
        super().__init__(latency=0.2)
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    async def chat(self, request: ChatRequest) -> object:  # type: ignore[override]
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return await super().chat(request)
        finally:
            with self.lock:
                self.now -= 1


def test_max_concurrency_queues_requests() -> None:
    provider = Counting()
    app = create_app({"echo": ZeroShot(model(provider), name="echo")}, max_concurrency=1)
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    with BackgroundServer(app) as server:

        async def main() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                statuses: list[int] = []

                async def one() -> None:
                    statuses.append((await client.post("/v1/chat/completions", json=body)).status_code)

                async with anyio.create_task_group() as tasks:
                    for _ in range(3):
                        tasks.start_soon(one)
                return statuses

        started = time.perf_counter()
        assert anyio.run(main) == [200, 200, 200]
        assert time.perf_counter() - started >= 0.55
    assert provider.most == 1


def test_serve_imports_starlette_only_when_the_app_is_built() -> None:
    probe = (
        "import sys, json\n"
        "import tunewise.serve, tunewise.cli\n"
        "from tunewise.serve import load_served\n"
        "before = 'starlette' in sys.modules or 'uvicorn' in sys.modules\n"
        "from tunewise.serve import create_app\n"
        "print(json.dumps([before, 'starlette' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == [False, True]

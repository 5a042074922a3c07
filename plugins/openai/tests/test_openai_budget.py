"""One retry budget: a call, streamed or not, makes at most ``max_retries + 1`` HTTP attempts.

The fake server is told exactly which fault each attempt meets (``Faults.script``) and
counts the requests it received, so every mix of 5xx, 429, timeouts, dropped connections,
malformed answers and streams cut before their first text is checked against the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise import (
    ChatRequest,
    Message,
    ProviderError,
    ProviderTimeoutError,
    ServerError,
    StreamInterruptedError,
    TunewiseError,
)
from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer
from tunewise_openai.fake._faults import FaultKind

from .conftest import FAST, SECRET

CHAT = "/v1/chat/completions"
QUESTION = "tell me about the weather on the coast today"
ANSWER = f"You said: {QUESTION}"
RETRYABLE: tuple[FaultKind, ...] = ("server_error", "unavailable", "rate_limit", "reset", "lost", "malformed", "cut")
"""Faults that end an attempt before any text reached the caller, so the call is tried again."""


def ask(text: str = QUESTION) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message.user(text),), max_tokens=50)


def provider(fake: FakeServer, max_retries: int, **options: Any) -> OpenAIProvider:
    return OpenAIProvider(
        base_url=fake.base_url, api_key=SECRET, options={**FAST, "max_retries": max_retries, **options}
    )


def attempts(fake: FakeServer) -> int:
    return int(fake.stats()["requests_by_path"].get(CHAT, 0))


async def call(p: OpenAIProvider, streamed: bool) -> str:
    if not streamed:
        return (await p.chat(ask())).text
    return "".join([chunk.delta async for chunk in p.stream(ask())])


def expected(script: Sequence[FaultKind | None], max_retries: int, streamed: bool) -> tuple[int, bool]:
    """(HTTP attempts, whether the call succeeds) for a scripted sequence of faults."""
    for attempt in range(max_retries + 1):
        kind = script[attempt] if attempt < len(script) else None
        if kind is None:
            return attempt + 1, True
        if kind == "truncate" and streamed:  # cut after text reached the caller: not retried
            return attempt + 1, False
    return max_retries + 1, False


MIXES: list[tuple[str, list[FaultKind | None]]] = [
    ("5xx then cut", ["server_error", "cut"]),
    ("cut then 5xx", ["cut", "unavailable"]),
    ("cut, cut, cut", ["cut", "cut", "cut"]),
    ("429 with retry-after then cut", ["rate_limit", "cut", "rate_limit"]),
    ("reset then malformed then lost", ["reset", "malformed", "lost"]),
    ("5xx forever", ["server_error"] * 12),
    ("cut forever", ["cut"] * 12),
    ("alternating forever", ["cut", "server_error", "rate_limit", "reset"] * 3),
]


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
@pytest.mark.parametrize(("name", "script"), MIXES, ids=[name for name, _ in MIXES])
async def test_every_mix_of_faults_stays_within_one_budget(
    fake: FakeServer, streamed: bool, name: str, script: list[FaultKind | None]
) -> None:
    max_retries = 3
    fake.faults.configure(script=list(script), retry_after_ms=1)
    want_attempts, succeeds = expected(script, max_retries, streamed)
    async with provider(fake, max_retries) as p:
        if succeeds:
            assert await call(p, streamed) == ANSWER
        else:
            with pytest.raises(ProviderError) as failed:
                await call(p, streamed)
            assert failed.value.retryable and "\n" not in str(failed.value)
    assert attempts(fake) == want_attempts <= max_retries + 1


@pytest.mark.anyio
@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
async def test_timeouts_count_against_the_same_budget(fake: FakeServer, streamed: bool) -> None:
    fake.faults.configure(script=["timeout", "cut", "timeout", "timeout"], hang_s=1.0)
    async with provider(fake, 2, timeout=0.2) as p:
        with pytest.raises(ProviderError) as failed:
            await call(p, streamed)
    assert isinstance(failed.value, ProviderTimeoutError | StreamInterruptedError)
    assert attempts(fake) == 3


@pytest.mark.anyio
async def test_a_timeout_then_an_answer_succeeds_within_the_budget(fake: FakeServer) -> None:
    fake.faults.configure(script=["timeout", "cut"], hang_s=1.0)
    async with provider(fake, 2, timeout=0.2) as p:
        assert await call(p, True) == ANSWER
    assert attempts(fake) == 3


@pytest.mark.anyio
async def test_a_stream_cut_after_its_first_text_is_not_retried(fake: FakeServer) -> None:
    fake.faults.configure(script=["truncate"])
    received: list[str] = []

    async def read(p: OpenAIProvider) -> None:
        async for chunk in p.stream(ask()):
            received.append(chunk.delta)

    async with provider(fake, 5) as p:
        with pytest.raises(StreamInterruptedError, match="cut off"):
            await read(p)
    assert received and ANSWER.startswith("".join(received)) and "".join(received) != ANSWER
    assert attempts(fake) == 1


@pytest.mark.anyio
async def test_zero_retries_means_one_attempt(fake: FakeServer) -> None:
    fake.faults.configure(script=["cut", "server_error"])
    async with provider(fake, 0) as p:
        with pytest.raises(StreamInterruptedError):
            await call(p, True)
        with pytest.raises(ServerError):
            await call(p, False)
    assert attempts(fake) == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    script=st.lists(st.one_of(st.none(), st.sampled_from((*RETRYABLE, "truncate"))), max_size=9),
    max_retries=st.integers(min_value=0, max_value=5),
    streamed=st.booleans(),
)
def test_any_sequence_of_faults_never_exceeds_max_retries_plus_one(
    fake_server: FakeServer, script: list[FaultKind | None], max_retries: int, streamed: bool
) -> None:
    fake_server.reset()
    fake_server.faults.configure(script=list(script), retry_after_ms=1)
    want_attempts, succeeds = expected(script, max_retries, streamed)
    p = provider(fake_server, max_retries)

    async def main() -> str | TunewiseError:
        try:
            return await call(p, streamed)
        except TunewiseError as exc:
            return exc
        finally:
            await p.aclose()

    outcome = anyio.run(main)
    assert attempts(fake_server) == want_attempts <= max_retries + 1
    if succeeds:
        assert outcome == ANSWER
    else:
        assert isinstance(outcome, ProviderError) and "\n" not in str(outcome)

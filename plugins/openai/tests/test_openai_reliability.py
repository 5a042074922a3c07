"""Retries, error mapping, client-side limits and key hygiene, against real faults over loopback."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import pytest

from tunewise import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ChatResponse,
    Message,
    NotFoundError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
)
from tunewise_openai import OpenAIProvider
from tunewise_openai._errors import error_from_status, retry_after
from tunewise_openai._ratelimit import Throttle
from tunewise_openai.fake import FakeServer

from .conftest import FAST, SECRET

pytestmark = pytest.mark.anyio


def ask(text: str, model: str = "gpt-4o-mini") -> ChatRequest:
    return ChatRequest(model=model, messages=(Message.user(text),))


@pytest.mark.slow
async def test_1000_calls_at_20_percent_faults_all_answer_correctly_once(
    provider_factory: Any, fake: FakeServer
) -> None:
    fake.faults.configure(
        rate=0.2,
        seed=2024,
        kinds=("rate_limit", "server_error", "unavailable", "reset", "lost", "timeout", "malformed"),
        retry_after_ms=5,
        hang_s=1.0,
    )
    results: dict[int, ChatResponse] = {}
    async with provider_factory(timeout=0.5, max_concurrency=64) as provider:

        async def one(i: int) -> None:
            results[i] = await provider.chat(ask(f"question number {i}"))

        async with anyio.create_task_group() as tg:
            for i in range(1000):
                tg.start_soon(one, i)
    assert sorted(results) == list(range(1000))
    assert all(results[i].text == f"You said: question number {i}" for i in range(1000))
    request_ids = [r.request_id for r in results.values()]
    assert len(set(request_ids)) == 1000, "two calls got the same response"
    injected = fake.faults.injected
    assert sum(injected.values()) >= 150, injected  # ~200 expected: faults really happened
    assert set(injected) == {"rate_limit", "server_error", "unavailable", "reset", "lost", "timeout", "malformed"}
    with anyio.fail_after(10):
        while fake.fake.state.in_flight:  # held "timeout" answers finish after the client gave up
            await anyio.sleep(0.05)
    # each caller got one completion; the server also made those whose answers were dropped
    # ("lost"). A held "timeout" answer is made only if the server was not cancelled when the
    # client hung up, which depends on timing, so those count toward the upper bound only.
    served = fake.stats()["completions_served"]
    assert 1000 + injected["lost"] <= served
    assert served <= 1000 + injected["lost"] + injected["timeout"] + 100  # +100: timeouts a slow machine adds


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, BadRequestError, False),
        (401, AuthenticationError, False),
        (403, AuthenticationError, False),
        (404, NotFoundError, False),
        (408, ServerError, True),
        (409, ServerError, True),
        (422, BadRequestError, False),
        (429, RateLimitError, True),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_status_mapping(status: int, error: type[Exception], retryable: bool) -> None:
    body = b'{"error": {"message": "Something\\nwent wrong", "type": "x", "code": null}}'
    mapped = error_from_status(status, {"x-request-id": "req_1"}, body, provider="openai", action="POST chat")
    assert type(mapped) is error and mapped.retryable is retryable
    assert str(mapped) == f"openai: POST chat: Something went wrong (status {status}, request id req_1)"


def test_out_of_quota_429_is_not_retried() -> None:
    body = b'{"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}'
    mapped = error_from_status(429, {}, body, provider="openai", action="POST chat")
    assert isinstance(mapped, RateLimitError) and not mapped.retryable


def test_retry_after_headers() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "3"}) == 0.25
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0) == 10.0
    assert retry_after({}) is None


async def test_client_errors_fail_at_once_with_message_and_request_id(provider_factory: Any, fake: FakeServer) -> None:
    async with provider_factory() as provider:
        with pytest.raises(NotFoundError) as missing:
            await provider.chat(ask("hi", model="gpt-9-imaginary"))
        with pytest.raises(BadRequestError) as bad:
            await provider.chat(ask("hi", model="gpt-4o-mini").model_copy(update={"extra": {"messages": []}}))
    assert "The model `gpt-9-imaginary` does not exist" in str(missing.value)
    assert missing.value.request_id and missing.value.request_id.startswith("req_")
    assert "'messages' must be a non-empty array" in str(bad.value) and bad.value.status == 400
    assert fake.stats()["requests_by_path"]["/v1/chat/completions"] == 2  # no retries


async def test_retries_honour_retry_after_ms(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("rate_limit",), retry_after_ms=120)
    async with provider_factory(max_retries=2, backoff_initial=0.0) as provider:
        started = time.perf_counter()
        with pytest.raises(RateLimitError) as limited:
            await provider.chat(ask("hi"))
        elapsed = time.perf_counter() - started
    assert limited.value.retry_after == pytest.approx(0.12)
    assert fake.stats()["requests_by_path"]["/v1/chat/completions"] == 3
    assert elapsed >= 0.24  # two waits of the 120 ms the server asked for, not the ~0 s backoff


async def test_exhausted_retries_raise_the_last_error(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("reset",))
    async with provider_factory(max_retries=1) as provider:
        with pytest.raises(ProviderConnectionError, match="connection failed"):
            await provider.chat(ask("hi"))
    fake.faults.configure(kinds=("timeout",), hang_s=0.5)
    async with provider_factory(max_retries=0, timeout=0.1) as provider:
        with pytest.raises(ProviderTimeoutError, match="no answer in time"):
            await provider.chat(ask("hi"))
    fake.faults.configure(kinds=("malformed",))
    async with provider_factory(max_retries=0) as provider:
        with pytest.raises(ServerError, match="malformed JSON"):
            await provider.chat(ask("hi"))


async def test_concurrency_cap_is_respected(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("timeout",), hang_s=0.05)  # every request takes 50 ms
    async with provider_factory(max_concurrency=3) as provider, anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(provider.chat, ask(f"q{i}"))
    assert fake.stats()["max_in_flight"] == 3


async def test_requests_per_period_limit() -> None:
    throttle = Throttle(rpm=10, tpm=None, max_concurrency=None, period=0.5)
    started = time.perf_counter()
    for _ in range(20):
        await throttle.admit()
    assert time.perf_counter() - started >= 0.4  # the second 10 wait for the bucket to drain


async def test_tokens_per_period_limit() -> None:
    throttle = Throttle(rpm=None, tpm=100, max_concurrency=None, period=0.5)
    started = time.perf_counter()
    for _ in range(4):
        await throttle.admit(tokens=50)
    assert time.perf_counter() - started >= 0.2


async def test_key_never_shows_in_errors_logs_or_reprs(
    fake: FakeServer, caplog: pytest.LogCaptureFixture, isolated_settings: Any
) -> None:
    wrong = "sk-wrong-0123456789abcdefghijklmnop"
    caplog.set_level(logging.DEBUG, logger="tunewise")
    async with OpenAIProvider(base_url=fake.base_url, api_key=wrong, options=FAST) as provider:
        with pytest.raises(AuthenticationError) as denied:
            await provider.chat(ask("hi"))
        assert wrong not in repr(provider) and wrong not in str(provider.options)
    # OpenAI's 401 quotes the key it was sent; it must not reach the user
    assert "Incorrect API key provided: [REDACTED]" in str(denied.value)
    assert wrong not in str(denied.value) and wrong not in repr(denied.value)
    fake.faults.configure(rate=1.0, kinds=("server_error",))
    async with OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options={**FAST, "max_retries": 2}) as provider:
        with pytest.raises(ServerError):
            await provider.chat(ask("hi"))
    assert "retry 1" in caplog.text
    assert SECRET not in caplog.text and wrong not in caplog.text


async def test_open_streams_count_against_the_concurrency_cap(provider_factory: Any) -> None:
    open_now, most = 0, 0

    async def read_slowly(provider: Any, i: int) -> None:
        nonlocal open_now, most
        counted = False
        async for _ in provider.stream(ask(f"a slow reader number {i}")):
            if not counted:
                open_now, counted = open_now + 1, True
                most = max(most, open_now)
            await anyio.sleep(0.01)
        open_now -= 1

    async with provider_factory(max_concurrency=2) as provider, anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(read_slowly, provider, i)
    assert most == 2

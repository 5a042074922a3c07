"""Chat, streaming, usage and structured output through the provider, against the loopback fake."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from tunewise import (
    ChatRequest,
    Message,
    Model,
    ModelRef,
    ResponseFormat,
    StreamInterruptedError,
    StructuredOutputError,
    Usage,
)
from tunewise_openai._chat import chat_body, parse_usage
from tunewise_openai.fake import FakeServer

pytestmark = pytest.mark.anyio


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message.user(text),), **options)


async def test_chat_answers_with_usage_and_request_id(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        first = await provider.chat(ask("what is the refund policy"))
        again = await provider.chat(ask("what is the refund policy"))
    assert first.text == "You said: what is the refund policy"
    assert first.finish_reason == "stop" and first.model == "gpt-4o-mini"
    assert first.request_id and first.request_id.startswith("req_")
    assert first.usage.prompt_tokens == 5 + 4 + 3 and first.usage.completion_tokens == 7
    assert first.usage.cached_prompt_tokens == 0
    assert again.usage.cached_prompt_tokens == again.usage.prompt_tokens  # the fake caches repeated prompts
    assert first.latency_s is not None and first.latency_s > 0


def test_usage_absent_is_none_never_zero() -> None:
    assert parse_usage(None) == Usage()
    partial = parse_usage({"prompt_tokens": 3, "completion_tokens": 2})
    assert partial.cached_prompt_tokens is None and partial.total_tokens == 5
    assert parse_usage({"prompt_tokens_details": {"cached_tokens": 0}}).cached_prompt_tokens == 0


def test_request_body_carries_every_field() -> None:
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=(Message.system("be brief"), Message.user("hi")),
        temperature=0.2,
        top_p=0.9,
        max_tokens=12,
        stop=("END",),
        seed=3,
        response_format=ResponseFormat(type="json_object"),
        tools=({"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}},),
        extra={"logprobs": True, "temperature": 0.5},
    )
    body = chat_body(request, provider="openai", max_tokens_param="max_completion_tokens", stream=True)
    assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["max_completion_tokens"] == 12 and "max_tokens" not in body
    assert body["stop"] == ["END"] and body["seed"] == 3 and body["top_p"] == 0.9
    assert body["response_format"] == {"type": "json_object"}
    assert body["tools"][0]["function"]["name"] == "lookup"
    assert body["stream_options"] == {"include_usage": True}
    assert body["logprobs"] is True and body["temperature"] == 0.5  # extra wins


async def test_max_tokens_and_stop(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        short = await provider.chat(ask("one two three four five", max_tokens=3))
        stopped = await provider.chat(ask("alpha beta gamma", stop=("beta",)))
    assert short.text == "You said: one" and short.finish_reason == "length"
    assert short.usage.completion_tokens == 3
    assert stopped.text == "You said: alpha "


async def test_tool_calls_come_back(provider_factory: Any) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        },
    }
    async with provider_factory() as provider:
        response = await provider.chat(ask("where is my order", tools=(tool,)))
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls is not None and response.tool_calls[0].function.name == "lookup_order"
    assert '"order_id"' in response.tool_calls[0].function.arguments


class Refund(BaseModel):
    eligible: bool
    days: int
    reason: str | None


async def test_structured_output_is_parsed_and_validated(provider_factory: Any, fake: FakeServer) -> None:
    async with provider_factory() as provider:
        model = Model(ModelRef.parse("openai:gpt-4o-mini"), provider)
        refund = await model.parse("can I get a refund after 10 days?", Refund)
        assert refund == Refund(eligible=True, days=1, reason="example reason")
        with pytest.raises(StructuredOutputError, match="refused") as refused:
            await model.parse("REFUSE to answer", Refund)
    assert "\n" not in str(refused.value) and refused.value.request_id


async def test_answer_that_ignores_the_schema_is_a_structured_output_error(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        model = Model(ModelRef.parse("openai:gpt-4o-mini"), provider)
        # the fake ignores response_format when asked to (as some compatible servers do)
        with pytest.raises(StructuredOutputError, match="not valid JSON for Refund") as invalid:
            await model.parse("NOJSON: refund?", Refund)
    assert "\n" not in str(invalid.value)


async def test_stream_yields_text_then_one_final_chunk_with_usage(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        chunks = [c async for c in provider.stream(ask("stream me a short answer"))]
    assert "".join(c.delta for c in chunks) == "You said: stream me a short answer"
    assert len(chunks) > 3
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])


async def test_truncated_stream_raises_never_returns_partial(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("truncate",))
    received: list[str] = []

    async def consume(provider: Any) -> None:
        async for chunk in provider.stream(ask("a long answer that will be cut off midway")):
            received.append(chunk.delta)

    async with provider_factory() as provider:
        with pytest.raises(StreamInterruptedError, match="without \\[DONE\\]") as cut:
            await consume(provider)
    assert cut.value.retryable and "\n" not in str(cut.value)
    assert received and "".join(received) != "You said: a long answer that will be cut off midway"


async def test_stream_opening_is_retried_through_429_and_500(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=0.5, seed=3, kinds=("rate_limit", "server_error", "reset"))
    async with provider_factory() as provider:
        for i in range(20):
            text = "".join([c.delta async for c in provider.stream(ask(f"stream {i}"))])
            assert text == f"You said: stream {i}"
    assert sum(fake.faults.injected.values()) > 5


async def test_server_that_ignores_stream_true_gives_one_final_chunk(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        chunks = [c async for c in provider.stream(ask("NOSTREAM please"))]
    assert len(chunks) == 1 and chunks[0].delta == "You said: NOSTREAM please"
    assert chunks[0].finish_reason == "stop" and chunks[0].usage is not None


async def test_garbled_stream_answer_is_retried_then_reported(provider_factory: Any, fake: FakeServer) -> None:
    fake.faults.configure(rate=1.0, kinds=("malformed",))
    async with provider_factory(max_retries=2) as provider:
        with pytest.raises(StreamInterruptedError, match="malformed JSON"):
            async for _ in provider.stream(ask("hi")):
                pass
    assert fake.faults.injected == {"malformed": 3}  # first try + 2 retries, none yielded a chunk

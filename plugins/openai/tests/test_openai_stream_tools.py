"""Tool calls in streamed answers: OpenAI's fragments, through the provider and the fake server, assembled."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from tunewise import ChatChunk, ChatRequest, ChatResponse, Message, StreamInterruptedError, ToolCallDelta
from tunewise_openai._stream import iter_chunks
from tunewise_openai.fake import FakeServer

from .conftest import SECRET

pytestmark = pytest.mark.anyio


def tool(name: str, **properties: str) -> dict[str, Any]:
    schema = {"type": "object", "properties": {p: {"type": t} for p, t in properties.items()}}
    return {"type": "function", "function": {"name": name, "parameters": {**schema, "required": list(properties)}}}


ORDER = tool("lookup_order", order_id="string", include_items="boolean")
WEATHER = tool("get_weather", city="string", days="integer")


def ask(text: str, *tools: dict[str, Any], **options: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message.user(text),), tools=tools, **options)


@pytest.mark.parametrize("tools", [(ORDER,), (ORDER, WEATHER)], ids=["one call", "two parallel calls"])
async def test_streamed_tool_calls_assemble_to_what_chat_returns(
    provider_factory: Any, tools: tuple[dict[str, Any], ...]
) -> None:
    request = ask("where is my order, and will it rain", *tools)
    async with provider_factory() as provider:
        answer = await provider.chat(request)
        chunks = [c async for c in provider.stream(request)]
    streamed = ChatResponse.from_chunks(chunks)

    assert answer.tool_calls is not None and len(answer.tool_calls) == len(tools)
    assert streamed.tool_calls == answer.tool_calls  # ids, names and arguments
    assert [c.function.name for c in answer.tool_calls] == [t["function"]["name"] for t in tools]
    assert len({c.id for c in answer.tool_calls}) == len(tools)
    arguments = json.loads(answer.tool_calls[0].function.arguments)
    assert arguments == {"order_id": "example order_id", "include_items": True}
    assert streamed.finish_reason == answer.finish_reason == "tool_calls"
    assert streamed.text == answer.text == ""
    assert streamed.model == answer.model
    assert streamed.usage.completion_tokens == answer.usage.completion_tokens > 0  # tool calls are tokens too
    assert streamed.usage.prompt_tokens == answer.usage.prompt_tokens

    fragments = [f for c in chunks for f in c.tool_calls or ()]
    for index in range(len(tools)):
        mine = [f for f in fragments if f.index == index]
        assert mine[0].id and mine[0].name and mine[0].arguments == ""  # the call is opened first...
        assert len(mine) > 3 and all(f.id is None and f.name is None for f in mine[1:])  # ...then its arguments
    assert chunks[-1].finish_reason == "tool_calls" and chunks[-1].tool_calls is None


async def test_parallel_tool_calls_false_and_a_named_tool_choice(provider_factory: Any) -> None:
    named = {"type": "function", "function": {"name": "get_weather"}}
    async with provider_factory() as provider:
        single = [c async for c in provider.stream(ask("hi", ORDER, WEATHER, extra={"parallel_tool_calls": False}))]
        chosen = [c async for c in provider.stream(ask("hi", ORDER, WEATHER, extra={"tool_choice": named}))]
    assert [c.function.name for c in ChatResponse.from_chunks(single).tool_calls or ()] == ["lookup_order"]
    assert [c.function.name for c in ChatResponse.from_chunks(chosen).tool_calls or ()] == ["get_weather"]


async def test_a_server_that_ignores_stream_true_gives_whole_calls(provider_factory: Any) -> None:
    request = ask("NOSTREAM where is my order", ORDER, WEATHER)  # the fake answers with one JSON object
    async with provider_factory() as provider:
        chunks = [c async for c in provider.stream(request)]
        answer = await provider.chat(request)
    assert len(chunks) == 1 and chunks[0].finish_reason == "tool_calls"
    assert ChatResponse.from_chunks(chunks).tool_calls == answer.tool_calls


async def test_the_official_client_assembles_the_fakes_stream_as_tunewise_does(
    fake: FakeServer, provider_factory: Any
) -> None:
    """openai's own stream accumulator agrees with ours on the fake's chunks, which proves their shapes."""
    question = "where is my order, and will it rain"
    tools: Any = [ORDER, WEATHER]  # the client's TypedDicts, as plain dicts
    client = openai.OpenAI(base_url=fake.base_url, api_key=SECRET, max_retries=0, timeout=5)
    state = ChatCompletionStreamState()
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], tools=tools, stream=True
    )
    for chunk in stream:
        state.handle_chunk(chunk)
    theirs = state.get_final_completion().choices[0]

    async with provider_factory() as provider:
        ours = ChatResponse.from_chunks([c async for c in provider.stream(ask(question, ORDER, WEATHER))])
    assert theirs.finish_reason == ours.finish_reason == "tool_calls"
    assert theirs.message.tool_calls is not None and ours.tool_calls is not None
    their_calls = [
        (c.id, c.function.name, c.function.arguments) for c in theirs.message.tool_calls if c.type == "function"
    ]
    assert their_calls == [(c.id, c.function.name, c.function.arguments) for c in ours.tool_calls]
    assert len(their_calls) == 2


def test_the_fakes_tool_call_chunks_validate_strictly(fake: FakeServer) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "where is my order"}],
        "tools": [ORDER],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with (
        httpx.Client(base_url=fake.base_url + "/", headers={"Authorization": f"Bearer {SECRET}"}) as http,
        http.stream("POST", "chat/completions", json=body) as stream,
    ):
        events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(e, strict=True) for e in events[:-1]]
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert deltas[0].role == "assistant" and deltas[0].content is None and not deltas[0].tool_calls
    opener = deltas[1].tool_calls[0]  # type: ignore[index]
    assert (opener.index, opener.type, opener.function.arguments) == (0, "function", "")  # type: ignore[union-attr]
    assert opener.id and opener.function and opener.function.name == "lookup_order"
    later = [d.tool_calls[0] for d in deltas[2:] if d.tool_calls]
    assert later and all(f.id is None and f.type is None and f.function and f.function.name is None for f in later)


def sse(*deltas: dict[str, Any], finish: dict[str, Any] | None = None) -> httpx.Response:
    """A streamed answer as a server sends it: one chunk per delta, then the finish chunk and [DONE]."""
    choices: list[dict[str, Any]] = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
    choices.append({"index": 0, "delta": finish or {}, "finish_reason": "tool_calls"})
    events = [f"data: {json.dumps({'model': 'm', 'choices': [choice]})}\n\n" for choice in choices]
    body = ("".join(events) + "data: [DONE]\n\n").encode()
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


async def collect(response: httpx.Response) -> list[ChatChunk]:
    return [c async for c in iter_chunks(response, provider="compat")]


async def test_compatible_server_shapes_still_assemble() -> None:
    # Calls sent whole on the finish chunk, and fragments without "index": both occur in compatible servers.
    whole: dict[str, Any] = {
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    }
    chunks = await collect(sse(finish=whole))
    assert chunks[-1].tool_calls == (ToolCallDelta(index=0, id="c1", name="f", arguments='{"a": 1}'),)
    no_index: list[dict[str, Any]] = [
        {"tool_calls": [{"id": "c1", "function": {"name": "f"}}]},
        {"tool_calls": [{"function": {}}]},
    ]
    call = ChatResponse.from_chunks(await collect(sse(*no_index))).tool_calls
    assert call is not None and call[0].function.arguments == "{}"


async def test_malformed_fragments_are_one_line_errors() -> None:
    with pytest.raises(StreamInterruptedError, match="malformed tool call in chunk 1") as broken:
        await collect(sse({"tool_calls": ["not an object"]}))
    assert "\n" not in str(broken.value) and str(broken.value).startswith("compat: ")

"""Streamed answers add up to what ``chat`` returns: ``ChatResponse.from_chunks``, tool calls included."""

from __future__ import annotations

import pytest

import tunewise
from tunewise import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    FunctionCall,
    Message,
    Model,
    ModelRef,
    ProviderError,
    ToolCall,
    ToolCallDelta,
)
from tunewise.strategies import ZeroShot, stream_calls
from tunewise.testing import ScriptedProvider

CALLS = (
    ToolCall(id="call_1", function=FunctionCall(name="lookup_order", arguments='{"order_id": "A-1042", "all": true}')),
    ToolCall(id="call_2", function=FunctionCall(name="get_weather", arguments='{"city": "Lisbon"}')),
)


def calling(request: ChatRequest) -> ChatResponse:
    """A scripted model that says a few words, then calls two tools."""
    return ChatResponse(text="Let me check both.", model=request.model, finish_reason="tool_calls", tool_calls=CALLS)


def ask(text: str = "where is my order") -> ChatRequest:
    return ChatRequest(model="demo", messages=(Message.user(text),))


def test_tool_call_delta_is_public_and_frozen() -> None:
    assert "ToolCallDelta" in tunewise.__all__ and tunewise.ToolCallDelta is ToolCallDelta
    delta = ToolCallDelta(index=0, id="c", name="f")
    assert (delta.type, delta.arguments) == ("function", "")
    with pytest.raises(ValueError):
        ToolCallDelta(index=-1)
    with pytest.raises(ValueError):
        delta.arguments = "{}"  # type: ignore[misc]


@pytest.mark.anyio
async def test_scripted_stream_assembles_to_what_chat_returns() -> None:
    provider = ScriptedProvider(calling)
    answer = await provider.chat(ask())
    chunks = [c async for c in provider.stream(ask())]
    streamed = ChatResponse.from_chunks(chunks)
    assert streamed.tool_calls == answer.tool_calls == CALLS
    assert (streamed.text, streamed.finish_reason) == (answer.text, answer.finish_reason)
    fragments = [f for c in chunks for f in c.tool_calls or ()]
    assert [f.index for f in fragments if f.id] == [0, 1]  # each call opened once...
    assert len(fragments) > 2 * len(CALLS)  # ...and its arguments sent in several pieces
    assert [c.finish_reason for c in chunks].count("tool_calls") == 1 and chunks[-1].finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_a_strategy_streaming_its_calls_keeps_the_tool_calls() -> None:
    strategy = ZeroShot(Model(ModelRef.parse("scripted:demo"), ScriptedProvider(calling)))
    plain = await strategy.respond("where is my order")
    seen: list[ChatChunk] = []

    async def sink(chunk: ChatChunk) -> None:
        seen.append(chunk)

    with stream_calls(sink):
        streamed = await strategy.respond("where is my order")
    assert streamed.response.tool_calls == plain.response.tool_calls == CALLS
    assert any(c.tool_calls for c in seen)


def test_fragments_join_per_index_in_index_order() -> None:
    chunks = [
        ChatChunk(delta="Checking", model="m-2024", request_id="req_1"),
        ChatChunk(tool_calls=(ToolCallDelta(index=1, arguments='{"ci'),)),  # call 1 starts before it is named
        ChatChunk(tool_calls=(ToolCallDelta(index=0, id="a", name="first"), ToolCallDelta(index=1, id="b"))),
        ChatChunk(tool_calls=(ToolCallDelta(index=1, name="second", arguments='ty": "x"}'),)),
        ChatChunk(tool_calls=(ToolCallDelta(index=1, name="ignored"),)),  # the first name wins
        ChatChunk(delta=".", finish_reason="tool_calls"),
    ]
    response = ChatResponse.from_chunks(chunks, model="fallback", latency_s=0.5)
    assert response.tool_calls == (
        ToolCall(id="a", function=FunctionCall(name="first", arguments="{}")),  # no arguments reads as {}, as in chat
        ToolCall(id="b", function=FunctionCall(name="second", arguments='{"city": "x"}')),
    )
    assert (response.text, response.model, response.request_id) == ("Checking.", "m-2024", "req_1")
    assert (response.finish_reason, response.latency_s) == ("tool_calls", 0.5)
    assert ChatResponse.from_chunks([ChatChunk(delta="hi")], model="fallback").model == "fallback"
    assert ChatResponse.from_chunks([ChatChunk(delta="hi")]).tool_calls is None


def test_calls_sharing_an_index_are_told_apart_by_id() -> None:
    """Ollama streams each parallel call whole, all at index 0: a new id there is a new call."""
    chunks = [
        ChatChunk(tool_calls=(ToolCallDelta(index=0, id="call_1", name="weather", arguments='{"city": "Oslo"}'),)),
        ChatChunk(tool_calls=(ToolCallDelta(index=0, id="call_2", name="weather", arguments='{"city": "Lima"}'),)),
        ChatChunk(finish_reason="tool_calls"),
    ]
    calls = ChatResponse.from_chunks(chunks).tool_calls or ()
    assert [(c.id, c.function.arguments) for c in calls] == [
        ("call_1", '{"city": "Oslo"}'),
        ("call_2", '{"city": "Lima"}'),
    ]


def test_a_call_never_opened_is_a_one_line_provider_error() -> None:
    chunks = [
        ChatChunk(tool_calls=(ToolCallDelta(index=0, id="a", name="f"),), request_id="req_9"),
        ChatChunk(tool_calls=(ToolCallDelta(index=1, arguments="{}"),)),
        ChatChunk(finish_reason="tool_calls"),
    ]
    with pytest.raises(ProviderError) as error:
        ChatResponse.from_chunks(chunks)
    assert str(error.value) == (
        "streamed tool call 1 was never opened: no fragment gave it an id or a name (request id req_9)"
    )
    assert error.value.request_id == "req_9" and not error.value.retryable
    named_only = [ChatChunk(tool_calls=(ToolCallDelta(index=0, name="f"),))]
    with pytest.raises(ProviderError, match=r"gave it an id$"):
        ChatResponse.from_chunks(named_only)

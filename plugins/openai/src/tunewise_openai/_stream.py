"""Streamed chat completions: SSE events (parsed by httpx-sse) to [`ChatChunk`][tunewise.ChatChunk]s.

OpenAI ends a stream with a chunk carrying ``finish_reason``, then (with
``stream_options.include_usage``) a chunk with ``usage`` and no choices, then
``data: [DONE]``. tunewise's contract is that exactly the last chunk carries
``finish_reason`` and usage, so the tail is held back and merged into one final chunk.
Tool calls arrive as ``delta.tool_calls`` fragments (the first with ``id`` and
``function.name``, then pieces of ``function.arguments``) and pass through as
[`ToolCallDelta`][tunewise.ToolCallDelta]s; `ChatResponse.from_chunks()` joins them.
A stream that ends before ``[DONE]`` raises [`StreamInterruptedError`][tunewise.StreamInterruptedError]: a partial
answer is never returned as if it were whole.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from tunewise import ChatChunk, StreamInterruptedError, StructuredOutputError, ToolCallDelta, Usage
from tunewise.plugin import FinishReason
from tunewise_openai._chat import finish_reason, parse_completion, parse_usage
from tunewise_openai._errors import error_from_status, one_line


async def iter_chunks(response: httpx.Response, *, provider: str) -> AsyncGenerator[ChatChunk, None]:
    """Yield the chunks of an open streaming response; close it at the end, however it ends."""
    request_id = response.headers.get("x-request-id")
    model: str | None = None
    finish: FinishReason | None = None
    usage: Usage | None = None
    tail = ""  # text that arrived on the finish_reason chunk, sent with the final chunk
    tail_calls: list[ToolCallDelta] = []  # likewise for tool-call fragments
    refusal: list[str] = []
    received = 0
    done = False
    if "application/json" in response.headers.get("content-type", ""):
        # Some compatible servers ignore stream=true and answer in one piece.
        yield await _whole_answer(response, provider=provider)
        return
    try:
        async for event in EventSource(response).aiter_sse():
            if event.data == "[DONE]":
                done = True
                break
            if not event.data:
                continue
            try:
                data: Any = json.loads(event.data)
            except (ValueError, RecursionError):
                raise _interrupted(f"malformed chunk after {received} chunks", provider, request_id) from None
            if isinstance(data, dict) and "error" in data:
                raise error_from_status(
                    500, response.headers, event.data, provider=provider, action="POST chat/completions (stream)"
                )
            received += 1
            out: list[ChatChunk] = []
            try:
                model = data.get("model") or model
                if data.get("usage"):
                    usage = parse_usage(data["usage"])
                for choice in data.get("choices") or ():
                    delta = choice.get("delta") or {}
                    if delta.get("refusal"):
                        refusal.append(str(delta["refusal"]))
                    text = delta.get("content") or ""
                    try:
                        calls = _tool_call_deltas(delta.get("tool_calls"))
                    except (TypeError, ValueError):
                        raise _interrupted(f"malformed tool call in chunk {received}", provider, request_id) from None
                    reason = finish_reason(choice.get("finish_reason"))
                    if reason is not None:
                        finish, tail = reason, tail + text
                        tail_calls += calls
                    elif text or calls:
                        out.append(ChatChunk(delta=text, model=model, request_id=request_id, tool_calls=calls or None))
            except (AttributeError, KeyError, TypeError, ValueError):  # a chunk of the wrong shape
                raise _interrupted(f"malformed chunk {received}", provider, request_id) from None
            for chunk in out:
                yield chunk
    except httpx.HTTPError as exc:
        detail = f"connection lost after {received} chunks ({type(exc).__name__}: {one_line(str(exc))})"
        raise _interrupted(detail, provider, request_id) from None
    except SSEError as exc:
        raise _interrupted(f"not an event stream: {one_line(str(exc))}", provider, request_id) from None
    finally:
        await response.aclose()
    if not done:
        raise _interrupted(f"stream ended after {received} chunks without [DONE]", provider, request_id)
    if refusal:
        raise StructuredOutputError(
            f"the model refused: {one_line(''.join(refusal))}", request_id=request_id, provider=provider
        )
    yield ChatChunk(
        delta=tail,
        finish_reason=finish or "stop",
        usage=usage,
        model=model,
        request_id=request_id,
        tool_calls=tuple(tail_calls) or None,
    )


def _tool_call_deltas(raw: Any) -> tuple[ToolCallDelta, ...]:
    """``delta.tool_calls`` as fragments; a missing ``index`` is the item's position (some servers omit it)."""
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise TypeError("tool_calls is not a list")
    deltas: list[ToolCallDelta] = []
    for position, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("function") or {}, dict):
            raise TypeError("a tool call fragment is not an object")
        function = item.get("function") or {}
        deltas.append(
            ToolCallDelta(
                index=item.get("index", position),
                id=item.get("id"),
                name=function.get("name"),
                arguments=function.get("arguments") or "",
            )
        )
    return tuple(deltas)


async def _whole_answer(response: httpx.Response, *, provider: str) -> ChatChunk:
    request_id = response.headers.get("x-request-id")
    try:
        content = await response.aread()
    except httpx.HTTPError as exc:
        detail = f"connection lost ({type(exc).__name__}: {one_line(str(exc))})"
        raise _interrupted(detail, provider, request_id) from None
    finally:
        await response.aclose()
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        raise _interrupted("malformed JSON answer to a stream request", provider, request_id) from None
    answer = parse_completion(data, provider=provider, request_id=request_id)
    calls = tuple(ToolCallDelta.from_call(call, index) for index, call in enumerate(answer.tool_calls or ()))
    return ChatChunk(
        delta=answer.text,
        finish_reason=answer.finish_reason or "stop",
        usage=answer.usage,
        model=answer.model,
        request_id=answer.request_id,
        tool_calls=calls or None,
    )


def _interrupted(detail: str, provider: str, request_id: str | None) -> StreamInterruptedError:
    return StreamInterruptedError(
        f"POST chat/completions: the answer was cut off: {detail}", request_id=request_id, provider=provider
    )

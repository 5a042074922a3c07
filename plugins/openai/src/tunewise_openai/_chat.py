"""Chat completions: a [`ChatRequest`][tunewise.ChatRequest] to OpenAI's request body, and the answer back.

Pure functions on dicts, so the shapes are tested without a server.
"""

from __future__ import annotations

from typing import Any

from tunewise import (
    ChatRequest,
    ChatResponse,
    ConfigError,
    FunctionCall,
    ServerError,
    StructuredOutputError,
    ToolCall,
    Usage,
)
from tunewise.plugin import FinishReason
from tunewise_openai._errors import one_line

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
    "eos": "stop",  # some compatible servers
}


def finish_reason(value: Any) -> FinishReason | None:
    """OpenAI's ``finish_reason`` as tunewise's (``function_call`` is ``tool_calls``)."""
    return _FINISH.get(value) if isinstance(value, str) else None


def chat_body(
    request: ChatRequest,
    *,
    provider: str,
    max_tokens_param: str = "max_tokens",
    stream: bool = False,
    include_usage: bool = True,
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``; ``extra`` fields win."""
    if "+" in request.model:
        raise ConfigError(
            f"{provider}: model {request.model!r} names an adapter ('+'); OpenAI-compatible servers serve "
            "adapters under their own model name (e.g. vLLM's --lora-modules name=path)"
        )
    body: dict[str, Any] = {"model": request.model, "messages": [m.to_openai() for m in request.messages]}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.max_tokens is not None:
        body[max_tokens_param] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    if request.response_format is not None:
        body["response_format"] = request.response_format.to_openai()
    if request.tools:
        body["tools"] = list(request.tools)
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    body.update(request.extra)
    return body


def parse_usage(raw: Any) -> Usage:
    """OpenAI's ``usage`` as [`Usage`][tunewise.Usage]; a count the server did not send stays ``None``."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=raw.get("prompt_tokens"),
        completion_tokens=raw.get("completion_tokens"),
        cached_prompt_tokens=cached,
    )


def parse_tool_calls(raw: Any) -> tuple[ToolCall, ...] | None:
    if not raw:
        return None
    return tuple(
        ToolCall(
            id=str(call.get("id", "")),
            function=FunctionCall(
                name=str(call["function"]["name"]), arguments=call["function"].get("arguments") or "{}"
            ),
        )
        for call in raw
    )


def parse_completion(
    data: Any, *, provider: str, request_id: str | None = None, latency_s: float | None = None
) -> ChatResponse:
    """A ``chat.completion`` object as [`ChatResponse`][tunewise.ChatResponse]; a refusal is a `StructuredOutputError`.

    An answer of the wrong shape (no choices, a field of the wrong type) is a retryable
    [`ServerError`][tunewise.ServerError].
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        refusal = message.get("refusal")
        if refusal:
            raise StructuredOutputError(
                f"the model refused: {one_line(str(refusal))}", request_id=request_id, provider=provider
            )
        return ChatResponse(
            text=message.get("content") or "",
            model=str(data.get("model") or ""),
            finish_reason=finish_reason(choice.get("finish_reason")),
            usage=parse_usage(data.get("usage")),
            latency_s=latency_s,
            request_id=request_id or data.get("id"),
            tool_calls=parse_tool_calls(message.get("tool_calls")),
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):  # ValueError: pydantic's too
        raise ServerError(
            f"POST chat/completions: unexpected answer shape: {one_line(str(data)[:80])!r}",
            request_id=request_id,
            retryable=True,
            provider=provider,
        ) from None

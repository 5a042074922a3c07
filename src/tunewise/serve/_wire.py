"""OpenAI's chat-completions wire format: request bodies in, response and chunk objects out.

Pure functions over JSON-shaped data, so every shape is tested without a server. Shapes
follow OpenAI's OpenAPI spec (``CreateChatCompletionRequest``, ``CreateChatCompletionResponse``,
``CreateChatCompletionStreamResponse``, ``ErrorResponse``); tunewise adds one harmless,
non-standard field, ``tunewise``, with the retrieved sources and the hand-off flag.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, get_args

from tunewise._types import Message, Role, Usage
from tunewise.interfaces.retriever import Hit
from tunewise.interfaces.strategy import Answer


class ApiError(Exception):
    """A request the server answers with an error, in OpenAI's ``{"error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


ROLES: tuple[str, ...] = get_args(Role)

SAMPLING_OPTIONS = ("temperature", "top_p", "max_tokens", "stop", "seed")
"""Request fields passed on to the strategy's model calls (they override the strategy's configured values)."""

_UNSUPPORTED = {
    "tools": "tool calling",
    "functions": "function calling",
    "tool_choice": "tool calling",
    "function_call": "function calling",
    "audio": "audio output",
    "prediction": "predicted outputs",
    "web_search_options": "web search",
}
"""Fields that change what a completion is; a strategy cannot honour them, so asking is an error, not a no-op."""


@dataclass(frozen=True)
class CompletionRequest:
    """A checked ``POST /v1/chat/completions`` body."""

    model: str
    messages: tuple[Message, ...]
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def parse_body(raw: bytes) -> CompletionRequest:
    """Check a request body; every problem is an :class:`ApiError` naming the field (``param``)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    model = data.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model must be a non-empty string", param="model", code="invalid_type")
    if "messages" not in data:
        raise _missing("messages")
    messages = parse_messages(data["messages"])
    for key, feature in _UNSUPPORTED.items():
        if data.get(key):
            raise ApiError(400, f"{key}: {feature} is not supported by tunewise serve", param=key, code="unsupported")
    n = data.get("n")
    if n is not None and n != 1:
        raise ApiError(400, "n: only one choice per request is supported (n=1)", param="n", code="unsupported")
    if data.get("logprobs") or data.get("top_logprobs"):
        raise ApiError(400, "logprobs are not supported by tunewise serve", param="logprobs", code="unsupported")
    response_format = data.get("response_format")
    if response_format is not None and not (
        isinstance(response_format, dict) and response_format.get("type") == "text"
    ):
        raise ApiError(
            400,
            "response_format: only {'type': 'text'} is supported; the strategy decides the answer's format",
            param="response_format",
            code="unsupported",
        )
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise ApiError(400, "stream must be true or false", param="stream", code="invalid_type")
    stream_options = data.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise ApiError(400, "stream_options must be an object", param="stream_options", code="invalid_type")
        if not stream:
            raise ApiError(
                400, "stream_options is only allowed with stream=true", param="stream_options", code="invalid_value"
            )
        include_usage = stream_options.get("include_usage") is True
    return CompletionRequest(
        model=model, messages=messages, stream=stream, include_usage=include_usage, options=_options(data)
    )


def _missing(name: str) -> ApiError:
    return ApiError(400, f"missing required parameter: '{name}'", param=name, code="missing_required_parameter")


def parse_messages(value: Any) -> tuple[Message, ...]:
    """OpenAI messages to :class:`Message` s; text content parts are joined, other parts refused."""
    if not isinstance(value, list):
        raise ApiError(400, "messages must be an array of message objects", param="messages", code="invalid_type")
    if not value:
        raise ApiError(400, "messages must contain at least one message", param="messages", code="empty_array")
    out: list[Message] = []
    for i, item in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(item, dict):
            raise ApiError(400, f"{where} must be an object", param=where, code="invalid_type")
        role = item.get("role")
        if role is None:
            raise _missing(f"{where}.role")
        if role not in ROLES:
            raise ApiError(
                400,
                f"{where}.role: {role!r} is not one of {', '.join(repr(r) for r in ROLES)}",
                param=f"{where}.role",
                code="invalid_value",
            )
        content = _content(item.get("content"), f"{where}.content")
        fields: dict[str, Any] = {"role": role, "content": content}
        for key in ("name", "tool_call_id", "tool_calls"):
            if item.get(key) is not None:
                fields[key] = item[key]
        try:
            out.append(Message.model_validate(fields))
        except ValueError as exc:
            reason = _first_error(exc)
            raise ApiError(400, f"{where}: {reason}", param=where, code="invalid_value") from None
    if not any(m.role == "user" and m.content for m in out):
        raise ApiError(400, "messages must include a user message with text", param="messages", code="invalid_value")
    return tuple(out)


def _content(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        texts: list[str] = []
        for j, part in enumerate(value):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                raise ApiError(
                    400,
                    f"{where}[{j}]: only text content parts are supported, got {kind or type(part).__name__!r}",
                    param=f"{where}[{j}]",
                    code="unsupported",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(400, f"{where} must be a string or an array of text parts", param=where, code="invalid_type")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{loc}: {msg}" if loc else msg
    return str(exc)


def _number(data: Mapping[str, Any], key: str, low: float, high: float, *, low_open: bool = False) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{key} must be a number", param=key, code="invalid_type")
    if value > high or value < low or (low_open and value == low):
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        raise ApiError(400, f"{key} must be {bound} and at most {high:g}, got {value}", param=key, code="invalid_value")
    return float(value)


def _options(data: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling options of a body, checked against the same bounds as :class:`~tunewise.ChatRequest`."""
    options: dict[str, Any] = {}
    temperature = _number(data, "temperature", 0, 2)
    if temperature is not None:
        options["temperature"] = temperature
    top_p = _number(data, "top_p", 0, 1, low_open=True)
    if top_p is not None:
        options["top_p"] = top_p
    for key in ("max_completion_tokens", "max_tokens"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ApiError(400, f"{key} must be a positive integer", param=key, code="invalid_value")
        options["max_tokens"] = value
    stop = data.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ApiError(400, "stop must be a string or up to 4 strings", param="stop", code="invalid_value")
        if stop:
            options["stop"] = tuple(stop)
    seed = data.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApiError(400, "seed must be an integer", param="seed", code="invalid_type")
        options["seed"] = seed
    return options


# --- responses --------------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage_json(usage: Usage) -> dict[str, Any] | None:
    """OpenAI's ``CompletionUsage``, or ``None`` when the provider did not report counts (never a made-up 0)."""
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_prompt_tokens or 0},
    }


def finish_reason(answer: Answer) -> str:
    """The answer's finish reason in OpenAI's vocabulary (``error`` or unknown reads as ``stop``)."""
    reason = answer.response.finish_reason
    return reason if reason in ("stop", "length", "tool_calls", "content_filter") else "stop"


def client_source(source: str) -> str:
    """A source as a client may see it: an absolute server path (an index ingested before sources
    were made relative) is cut to its file name, keeping a ``#record`` suffix."""
    path, hash_, record = source.partition("#")
    for flavour in (PurePosixPath, PureWindowsPath):
        if flavour(path).is_absolute():
            return flavour(path).name + hash_ + record
    return source


def source_json(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.id,
        "source": client_source(hit.source),
        "score": hit.score,
        "rank": hit.rank,
        "text": hit.document,
    }


def tunewise_json(answer: Answer) -> dict[str, Any]:
    """The non-standard ``tunewise`` field: what a support-bot client shows next to the answer."""
    cited = answer.metadata.get("cited")
    return {
        "strategy": answer.strategy,
        "sources": [source_json(h) for h in answer.hits],
        "cited": [client_source(str(c)) for c in cited] if isinstance(cited, list) else [],
        "handoff": answer.handoff,
    }


def completion_json(answer: Answer, *, model: str, id: str, created: int | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object for a whole answer."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason(answer),
            }
        ],
        "tunewise": tunewise_json(answer),
    }
    usage = usage_json(answer.usage)
    if usage is not None:
        body["usage"] = usage
    return body


def chunk_json(
    *,
    id: str,
    model: str,
    created: int,
    delta: Mapping[str, Any] | None = None,
    finish: str | None = None,
    include_usage: bool = False,
    usage: dict[str, Any] | None = None,
    final_usage_chunk: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` object.

    With ``include_usage`` every chunk has ``"usage": null`` except the final usage chunk,
    whose ``choices`` is empty, as OpenAI sends them.
    """
    choices: list[dict[str, Any]] = (
        []
        if final_usage_chunk
        else [{"index": 0, "delta": dict(delta or {}), "logprobs": None, "finish_reason": finish}]
    )
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
    }
    if include_usage:
        body["usage"] = usage if final_usage_chunk else None
    if extra:
        body.update(extra)
    return body


def sse(data: Mapping[str, Any] | str) -> bytes:
    """One server-sent event: ``data: ...`` and a blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def text_pieces(text: str, size: int = 24) -> Sequence[str]:
    """Split a finished text into chunks at word boundaries of about ``size`` characters, for honest replay."""
    if not text:
        return []
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + 1, end + 1)
            if space > start:
                end = space
        pieces.append(text[start:end])
        start = end
    return pieces

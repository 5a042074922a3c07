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


MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have: a chat request needs five levels;
hundreds only ever come from a fuzzer or an attack (and would exhaust Python's recursion)."""

MAX_TOKENS_LIMIT = 2**31 - 1
"""The largest ``max_tokens`` accepted: no model writes more, and providers and C libraries overflow beyond it."""

_INT64 = 2**63
_SHOWN = 80
"""Characters of a client's value quoted back in an error message."""


def shown(value: str) -> str:
    """``value`` as an error message quotes it: repr'd (one line), cut to a readable length."""
    text = repr(value[: _SHOWN + 1])
    return text if len(value) <= _SHOWN else text[:-1] + "..." + text[-1]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:_SHOWN]} is too large")
    return value


def parse_json(raw: bytes) -> Any:
    """``raw`` as strict JSON (RFC 8259).

    UTF-8, no ``NaN``/``Infinity``, finite numbers, at most `MAX_JSON_DEPTH` levels deep, no lone
    surrogates in strings.

    Every problem is a 400 [`ApiError`][tunewise.serve.ApiError] (``invalid_json``); nothing here can raise anything
    else.
    """
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, f"the request body is not UTF-8 text: invalid byte at position {exc.start}", code="invalid_json"
        ) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"the request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            code="invalid_json",
        ) from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:  # NaN/Infinity, numbers beyond a float, integers over Python's digit limit
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError(400, f"the request body is not valid JSON: {reason}", code="invalid_json") from None
    _check_tree(data)
    return data


def _too_deep() -> ApiError:
    return ApiError(400, f"the request body is nested more than {MAX_JSON_DEPTH} levels deep", code="invalid_json")


def _check_tree(data: Any) -> None:
    """Depth and string checks over the parsed body, without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise ApiError(
            400,
            f"the request body holds a lone UTF-16 surrogate (\\u{bad:04x}), which is not text",
            code="invalid_json",
        ) from None


def _flag(data: Mapping[str, Any], key: str, param: str | None = None) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        where = param or key
        raise ApiError(400, f"{where} must be true or false", param=where, code="invalid_type")
    return value


def parse_body(raw: bytes) -> CompletionRequest:
    """Check a request body; every problem is an [`ApiError`][tunewise.serve.ApiError] naming the field (``param``)."""
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    model = data.get("model")
    if model is None:
        raise _missing("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "model must be a non-empty string", param="model", code="invalid_type")
    if "messages" not in data:
        raise _missing("messages")
    messages = parse_messages(data["messages"])
    for key, feature in _UNSUPPORTED.items():
        if data.get(key):
            raise ApiError(400, f"{key}: {feature} is not supported by tunewise serve", param=key, code="unsupported")
    n = data.get("n")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int | float):
            raise ApiError(400, "n must be an integer", param="n", code="invalid_type")
        if n != 1:
            raise ApiError(400, "n: only one choice per request is supported (n=1)", param="n", code="unsupported")
    for key in ("logprobs", "top_logprobs"):
        if data.get(key):
            raise ApiError(400, f"{key}: logprobs are not supported by tunewise serve", param=key, code="unsupported")
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
    stream = _flag(data, "stream")
    stream_options = data.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise ApiError(400, "stream_options must be an object", param="stream_options", code="invalid_type")
        if not stream:
            raise ApiError(
                400, "stream_options is only allowed with stream=true", param="stream_options", code="invalid_value"
            )
        include_usage = _flag(stream_options, "include_usage", "stream_options.include_usage")
    return CompletionRequest(
        model=model, messages=messages, stream=stream, include_usage=include_usage, options=_options(data)
    )


def _missing(name: str) -> ApiError:
    return ApiError(400, f"missing required parameter: '{name}'", param=name, code="missing_required_parameter")


def parse_messages(value: Any) -> tuple[Message, ...]:
    """OpenAI messages to [`Message`][tunewise.Message]s; text content parts are joined, other parts refused."""
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
                f"{where}.role: {_describe(role)} is not one of {', '.join(repr(r) for r in ROLES)}",
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
                    f"{where}[{j}]: only text content parts are supported, got {_describe(kind or part)}",
                    param=f"{where}[{j}]",
                    code="unsupported",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(400, f"{where} must be a string or an array of text parts", param=where, code="invalid_type")


def _describe(value: Any) -> str:
    """A client's value in an error message: short text quoted, anything else by its JSON type."""
    if isinstance(value, str):
        return shown(value)
    names = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), "null")


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
    """The sampling options of a body, checked against the same bounds as [`ChatRequest`][tunewise.ChatRequest]."""
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
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
            raise ApiError(
                400, f"{key} must be an integer from 1 to {MAX_TOKENS_LIMIT}", param=key, code="invalid_value"
            )
        options["max_tokens"] = value
    stop = data.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
            raise ApiError(
                400, "stop must be a non-empty string or up to 4 of them", param="stop", code="invalid_value"
            )
        if stop:
            options["stop"] = tuple(stop)
    seed = data.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ApiError(400, "seed must be an integer", param="seed", code="invalid_type")
        if not -_INT64 <= seed < _INT64:
            raise ApiError(400, "seed must fit in 64 bits", param="seed", code="invalid_value")
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
    """A source as a client may see it.

    An absolute server path (an index ingested before sources were made relative) is cut to its file
    name, keeping a ``#record`` suffix.
    """
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

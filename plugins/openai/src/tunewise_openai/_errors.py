"""From HTTP answers and transport failures to tunewise's error tree.

400/401/403/404/422 fail at once; 408, 409, 429, 5xx, timeouts and dropped
connections are retryable. Every message is one line, carries the server's own
message (redacted: a 401 from OpenAI quotes the key it was sent) and its request id.
"""

from __future__ import annotations

import email.utils
import functools
import json
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

import httpx

from tunewise import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ServerError,
    TunewiseError,
)
from tunewise.plugin import redact

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


def one_line(text: str, limit: int = 300) -> str:
    """``text`` squeezed onto one line, redacted and cut to ``limit`` characters."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, else ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - (time.time() if now is None else now))


def server_message(body: bytes | str) -> tuple[str, str | None]:
    """The ``error.message`` and ``error.code`` of an OpenAI error body (or the raw text)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        data: Any = json.loads(text)
    except (ValueError, RecursionError):
        return (text.strip() or "no error message"), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return str(error.get("message") or error.get("type") or "no error message"), str(code) if code else None
    if isinstance(error, str):  # Ollama, llama.cpp: {"error": "..."}
        return error, None
    if isinstance(data, dict) and "detail" in data:  # vLLM / FastAPI validation errors
        return str(data["detail"]), None
    return text.strip() or "no error message", None


def error_from_status(
    status: int, headers: Mapping[str, str], body: bytes | str, *, provider: str, action: str
) -> ProviderError:
    """The tunewise error for a non-2xx answer to ``action`` (``POST chat/completions``)."""
    message, code = server_message(body)
    text = one_line(f"{action}: {message}")
    request_id = headers.get("x-request-id")
    kwargs: dict[str, Any] = {"status": status, "request_id": request_id, "provider": provider}
    if status == 429:
        error = RateLimitError(text, retry_after=retry_after(headers), **kwargs)
        if code == "insufficient_quota":  # out of credit: waiting will not help
            error.retryable = False
        return error
    if status in (401, 403):
        return AuthenticationError(text, **kwargs)
    if status == 404:
        return NotFoundError(text, **kwargs)
    if status in RETRYABLE_STATUSES or status >= 500:
        server_error = ServerError(text, retryable=True, **kwargs)
        server_error.retry_after = retry_after(headers)  # type: ignore[attr-defined]
        return server_error
    return BadRequestError(text, **kwargs)


def error_from_transport(exc: httpx.TransportError, *, provider: str, action: str) -> ProviderError:
    """The tunewise error for a timeout or a connection that failed or dropped."""
    detail = one_line(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"{action}: no answer in time ({type(exc).__name__}: {detail})", provider=provider)
    return ProviderConnectionError(f"{action}: connection failed ({type(exc).__name__}: {detail})", provider=provider)


def error_from_http(exc: httpx.HTTPError, *, provider: str, action: str) -> ProviderError:
    """The tunewise error for anything httpx raises while sending or reading.

    Transport failures are retryable (see `error_from_transport()`); an answer httpx
    cannot decode (a bad ``Content-Encoding``) is a retryable [`ServerError`][tunewise.ServerError]; the
    rest (too many redirects...) fail at once.
    """
    if isinstance(exc, httpx.TransportError):
        return error_from_transport(exc, provider=provider, action=action)
    detail = one_line(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.DecodingError):
        return ServerError(f"{action}: the answer could not be decoded ({detail})", retryable=True, provider=provider)
    return ProviderError(f"{action}: {type(exc).__name__}: {detail}", provider=provider)


def unexpected_answer(
    data: Any, *, provider: str, action: str, request_id: str | None = None, cause: BaseException | None = None
) -> ServerError:
    """A retryable `ServerError` for a 2xx answer of the wrong shape (a list for an object, a missing field)."""
    why = f" ({type(cause).__name__}: {one_line(str(cause), 80)})" if cause is not None else ""
    shown = f": {one_line(str(data), 80)!r}" if data not in (None, "") else ""
    return ServerError(
        f"{action}: unexpected answer shape{why}{shown}",
        request_id=request_id,
        retryable=True,
        provider=provider,
    )


P = ParamSpec("P")
R = TypeVar("R")


def shaped(action: str) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Turn a ``KeyError`` / ``TypeError``... from reading a server's answer into `unexpected_answer()`.

    For methods (of objects with a ``_provider``) that read fields out of answers after
    the request returned: a server that sends a list, or leaves a field out, gets a
    one-line [`ServerError`][tunewise.ServerError], not a traceback. tunewise's own errors pass as they are.
    """

    def wrap(method: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(method)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await method(*args, **kwargs)
            except TunewiseError:
                raise
            except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
                owner: Any = args[0] if args else None
                provider = str(getattr(owner, "_provider", "openai"))
                raise unexpected_answer("", provider=provider, action=action, cause=exc) from None

        return guarded

    return wrap

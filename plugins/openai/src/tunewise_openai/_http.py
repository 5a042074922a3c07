"""One pooled ``httpx.AsyncClient`` per provider, with retries, backoff and client-side limits.

Retries use tenacity: exponential backoff with full jitter, or exactly what the server
asked for in ``retry-after-ms`` / ``Retry-After`` (capped by ``max_retry_after``).
Only errors marked ``retryable`` are retried (408, 409, 429, 5xx, timeouts, dropped
connections, malformed answers); everything else fails on the first attempt.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from tunewise import ConfigError, ProviderError, ServerError
from tunewise._secrets import get_logger, register_secret
from tunewise_openai._errors import error_from_status, error_from_transport, one_line
from tunewise_openai._options import OpenAIOptions
from tunewise_openai._ratelimit import Throttle, estimate_tokens
from tunewise_openai._version import __version__

T = TypeVar("T")
log = get_logger("tunewise.openai")


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def json_body(response: httpx.Response, *, provider: str, action: str) -> Any:
    """The response's JSON; a garbled body is a retryable :class:`ServerError`."""
    try:
        return json.loads(response.content)
    except ValueError:
        snippet = one_line(response.text[:60])
        raise ServerError(
            f"{action}: the server sent malformed JSON: {snippet!r}",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
            retryable=True,
            provider=provider,
        ) from None


class HTTPClient:
    """Sends requests to one OpenAI-compatible server and turns failures into tunewise errors."""

    def __init__(self, *, provider: str, base_url: str, api_key: SecretStr | None, options: OpenAIOptions) -> None:
        self.provider = provider
        self.options = options
        headers = {"User-Agent": f"tunewise-openai/{__version__}", "Accept": "application/json"}
        if api_key is not None and api_key.get_secret_value():
            register_secret(api_key)
            headers["Authorization"] = f"Bearer {api_key.get_secret_value()}"
        if options.organization:
            headers["OpenAI-Organization"] = options.organization
        if options.project:
            headers["OpenAI-Project"] = options.project
        headers.update(options.headers)
        for name, value in options.headers.items():
            if name.lower() in {"authorization", "api-key", "x-api-key"}:  # e.g. Azure's api-key header
                register_secret(value.removeprefix("Bearer ").strip())
        if options.http2 and importlib.util.find_spec("h2") is None:
            raise ConfigError(f"profiles.{provider}.options.http2 needs the h2 package: pip install 'httpx[http2]'")
        # Several small pools instead of one big one: httpcore's pool scans every
        # connection for every queued request (encode/httpcore#1035), so past a few dozen
        # connections one pool spends more CPU choosing a connection than sending on it.
        shards = max(1, min(options.pool_shards, options.max_connections))
        per_shard = -(-options.max_connections // shards)
        tls = httpx.create_ssl_context()  # one for all pools: building one costs ~25 ms
        self._clients = [
            httpx.AsyncClient(
                base_url=base_url.rstrip("/") + "/",
                headers=headers,
                timeout=httpx.Timeout(options.timeout, connect=options.connect_timeout),
                limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard),
                http2=options.http2,
                verify=tls,
            )
            for _ in range(shards)
        ]
        self._load = [0] * shards
        self._throttle = Throttle(rpm=options.rpm, tpm=options.tpm, max_concurrency=options.max_concurrency)
        self._jitter = wait_random_exponential(multiplier=options.backoff_initial, max=options.backoff_max)

    @property
    def base_url(self) -> str:
        return str(self._clients[0].base_url)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    def _pick(self) -> int:
        """The least busy pool (the first one when all are idle, so keep-alive connections get reused)."""
        load = self._load
        return load.index(min(load))

    # -- retry policy -----------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return float(min(asked, self.options.max_retry_after))
        return float(self._jitter(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("retry %d in %.3fs after %s: %s", state.attempt_number, wait, type(exc).__name__, exc)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential with full jitter."""
        cap = min(self.options.backoff_max, self.options.backoff_initial * 2 ** (attempt - 1))
        return random.uniform(0, cap)

    def retrying(self, attempts: int | None = None) -> AsyncRetrying:
        """The retry loop for one call (``async for attempt in client.retrying(): with attempt: ...``)."""
        return AsyncRetrying(
            stop=stop_after_attempt(attempts or self.options.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(_retryable),
            before_sleep=self._before_sleep,
            reraise=True,
        )

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        parse: Callable[[httpx.Response], T],
        *,
        json: dict[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        data: dict[str, str] | None = None,
        retry: bool = True,
    ) -> T:
        """Send with retries; ``parse`` turns a 2xx response into the result (and may raise a retryable error).

        ``retry=False`` makes one attempt only, for calls whose caller checks what a lost
        answer did before trying again (creating a fine-tune job).
        """
        action = f"{method} {path}"
        tokens = estimate_tokens(json) if self._throttle.active else 1
        async for attempt in self.retrying(attempts=None if retry else 1):
            with attempt:
                await self._throttle.admit(tokens)
                async with self._throttle.slot():
                    shard = self._pick()
                    self._load[shard] += 1
                    try:
                        response = await self._clients[shard].request(
                            method, path, json=json, params=params, files=files, data=data
                        )
                    except httpx.TransportError as exc:
                        raise error_from_transport(exc, provider=self.provider, action=action) from None
                    finally:
                        self._load[shard] -= 1
                if response.status_code >= 300:
                    raise error_from_status(
                        response.status_code, response.headers, response.content, provider=self.provider, action=action
                    )
                return parse(response)
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def get_json(self, path: str, *, params: Mapping[str, str | int] | None = None) -> Any:
        return await self.request("GET", path, self.json_parser(f"GET {path}"), params=params)

    async def post_json(self, path: str, body: dict[str, Any] | None = None, *, retry: bool = True) -> Any:
        return await self.request("POST", path, self.json_parser(f"POST {path}"), json=body, retry=retry)

    async def delete_json(self, path: str) -> Any:
        return await self.request("DELETE", path, self.json_parser(f"DELETE {path}"))

    def json_parser(self, action: str) -> Callable[[httpx.Response], Any]:
        return lambda response: json_body(response, provider=self.provider, action=action)

    def stream_slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """A concurrency slot held for a whole stream (opening, retries and reading)."""
        return self._throttle.slot()

    async def open_stream(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST and return the open streaming response once it answered 2xx (retrying until then).

        The caller holds :meth:`stream_slot` around opening and reading the stream.
        """
        action = f"POST {path}"
        tokens = estimate_tokens(body) if self._throttle.active else 1
        async for attempt in self.retrying():
            with attempt:
                await self._throttle.admit(tokens)
                shard = self._pick()
                client = self._clients[shard]
                request = client.build_request("POST", path, json=body, headers={"Accept": "text/event-stream"})
                self._load[shard] += 1
                try:
                    response = await client.send(request, stream=True)
                except httpx.TransportError as exc:
                    raise error_from_transport(exc, provider=self.provider, action=action) from None
                finally:
                    self._load[shard] -= 1
                if response.status_code >= 300:
                    try:
                        content = await response.aread()
                    except httpx.TransportError as exc:
                        raise error_from_transport(exc, provider=self.provider, action=action) from None
                    finally:
                        await response.aclose()
                    raise error_from_status(
                        response.status_code, response.headers, content, provider=self.provider, action=action
                    )
                return response
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

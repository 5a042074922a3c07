"""Pooled ``httpx.AsyncClient`` s per provider and event loop, with retries, backoff and client-side limits.

Retries use tenacity: exponential backoff with full jitter, or exactly what the server
asked for in ``retry-after-ms`` / ``Retry-After`` (capped by ``max_retry_after``).
Only errors marked ``retryable`` are retried (408, 409, 429, 5xx, timeouts, dropped
connections, malformed answers); everything else fails on the first attempt.

One call has one budget of ``max_retries + 1`` HTTP attempts, whatever fails: a stream
cut off before its first chunk is re-opened out of the same budget, not with a fresh one.

Connections, pools and the throttle's semaphores and limiters belong to the event loop
that made them. They are built lazily for the running loop, closed when that loop shuts
down (or on `HTTPClient.aclose()`), so one provider works from any number of
``asyncio.run`` / ``anyio.run`` calls and inside an already running loop (Jupyter).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import ssl
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

from tunewise import ConfigError, ProviderError, ServerError, TunewiseError
from tunewise.plugin import get_logger, register_secret
from tunewise_openai._errors import error_from_http, error_from_status, one_line, unexpected_answer
from tunewise_openai._options import OpenAIOptions
from tunewise_openai._ratelimit import Throttle, estimate_tokens
from tunewise_openai._version import __version__

T = TypeVar("T")
log = get_logger("tunewise.openai")
_END: Any = object()
"""What `HTTPClient.stream()` gets for a stream that yields nothing at all."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def json_body(response: httpx.Response, *, provider: str, action: str) -> Any:
    """The response's JSON; a garbled body is a retryable [`ServerError`][tunewise.ServerError]."""
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        snippet = one_line(response.text[:60])
        raise ServerError(
            f"{action}: the server sent malformed JSON: {snippet!r}",
            status=response.status_code,
            request_id=response.headers.get("x-request-id"),
            retryable=True,
            provider=provider,
        ) from None


def json_object(response: httpx.Response, *, provider: str, action: str) -> dict[str, Any]:
    """The response's JSON object; JSON that is not an object is a retryable [`ServerError`][tunewise.ServerError]."""
    data = json_body(response, provider=provider, action=action)
    if not isinstance(data, dict):
        raise unexpected_answer(data, provider=provider, action=action, request_id=response.headers.get("x-request-id"))
    return data


def _running_loop() -> object:
    """The event loop this task runs on (asyncio), or the async library's name (others)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        import sniffio

        return sniffio.current_async_library()


@dataclass
class _Pools:
    """What one event loop owns: the connection pools, their load and the throttle."""

    loop: object
    clients: list[httpx.AsyncClient]
    throttle: Throttle
    load: list[int] = field(default_factory=list)
    closer: AsyncGenerator[None, None] | None = None

    @property
    def dead(self) -> bool:
        return isinstance(self.loop, asyncio.AbstractEventLoop) and self.loop.is_closed()

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


async def _close_with_loop(pools: _Pools) -> AsyncGenerator[None, None]:
    """Suspended once started, so that the loop's shutdown (``shutdown_asyncgens``) closes the pools."""
    try:
        yield
    finally:
        await pools.aclose()


class HTTPClient:
    """Sends requests to one OpenAI-compatible server and turns failures into tunewise errors."""

    def __init__(self, *, provider: str, base_url: str, api_key: SecretStr | None, options: OpenAIOptions) -> None:
        self.provider = provider
        self.options = options
        url = httpx.URL(base_url.rstrip("/") + "/")
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"profiles.{provider}.base_url: {base_url!r} is not an http:// or https:// URL")
        self._base_url = url
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
        self._headers = headers
        self._tls: ssl.SSLContext | None = None  # one for all pools and loops: building one costs ~25 ms
        self._pools_by_loop: dict[int, _Pools] = {}
        self._lock = threading.Lock()  # loops in other threads (a sync facade) share this client
        self._jitter = wait_random_exponential(multiplier=options.backoff_initial, max=options.backoff_max)

    @property
    def base_url(self) -> str:
        return str(self._base_url)

    # -- per-loop state -------------------------------------------------------------------------

    def _new_pools(self, loop: object) -> _Pools:
        options = self.options
        # Several small pools instead of one big one: httpcore's pool scans every
        # connection for every queued request (encode/httpcore#1035), so past a few dozen
        # connections one pool spends more CPU choosing a connection than sending on it.
        shards = max(1, min(options.pool_shards, options.max_connections))
        per_shard = -(-options.max_connections // shards)
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        clients = [
            httpx.AsyncClient(
                base_url=self._base_url,
                headers=self._headers,
                timeout=httpx.Timeout(options.timeout, connect=options.connect_timeout),
                limits=httpx.Limits(max_connections=per_shard, max_keepalive_connections=per_shard),
                http2=options.http2,
                verify=self._tls,
            )
            for _ in range(shards)
        ]
        throttle = Throttle(rpm=options.rpm, tpm=options.tpm, max_concurrency=options.max_concurrency)
        return _Pools(loop=loop, clients=clients, throttle=throttle, load=[0] * shards)

    async def _pools(self) -> _Pools:
        """The running loop's pools, built on first use; pools of loops that are gone are dropped."""
        loop = _running_loop()
        pools = self._pools_by_loop.get(id(loop))
        if pools is not None and pools.loop is loop and not pools.dead:
            return pools
        with self._lock:
            # A closed loop's connections cannot be closed from another loop; they are let go.
            for key in [k for k, p in self._pools_by_loop.items() if p.dead or k == id(loop)]:
                del self._pools_by_loop[key]
            pools = self._new_pools(loop)
            self._pools_by_loop[id(loop)] = pools
        if isinstance(loop, asyncio.AbstractEventLoop):
            pools.closer = _close_with_loop(pools)
            await pools.closer.__anext__()
        return pools

    async def aclose(self) -> None:
        """Close the running loop's connections (the next call opens new ones)."""
        with self._lock:
            loop = _running_loop()
            pools = self._pools_by_loop.pop(id(loop), None)
            for key in [k for k, p in self._pools_by_loop.items() if p.dead]:
                del self._pools_by_loop[key]
        if pools is None or pools.loop is not loop:
            return
        if pools.closer is not None:
            await pools.closer.aclose()
        else:
            await pools.aclose()

    @staticmethod
    def _pick(pools: _Pools) -> int:
        """The least busy pool (the first one when all are idle, so keep-alive connections get reused)."""
        load = pools.load
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
        """The retry loop for one call (``async for attempt in client.retrying(): with attempt: ...``).

        Each pass through the loop is one attempt of the call's budget (``max_retries + 1``).
        """
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

        At most ``max_retries + 1`` HTTP attempts. ``retry=False`` makes one attempt only,
        for calls whose caller checks what a lost answer did before trying again
        (creating a fine-tune job). An answer ``parse`` cannot read (a missing field, a
        wrong type) is a retryable [`ServerError`][tunewise.ServerError].
        """
        action = f"{method} {path}"
        tokens = estimate_tokens(json) if self.options.rpm or self.options.tpm else 1
        async for attempt in self.retrying(attempts=None if retry else 1):
            with attempt:
                pools = await self._pools()
                await pools.throttle.admit(tokens)
                async with pools.throttle.slot():
                    shard = self._pick(pools)
                    pools.load[shard] += 1
                    try:
                        response = await pools.clients[shard].request(
                            method, path, json=json, params=params, files=files, data=data
                        )
                    except httpx.HTTPError as exc:
                        raise error_from_http(exc, provider=self.provider, action=action) from None
                    finally:
                        pools.load[shard] -= 1
                if response.status_code >= 300:
                    raise error_from_status(
                        response.status_code, response.headers, response.content, provider=self.provider, action=action
                    )
                try:
                    return parse(response)
                except TunewiseError:
                    raise
                except Exception as exc:  # an answer of the wrong shape: a KeyError deep in parsing
                    raise unexpected_answer(
                        response.text[:80],
                        provider=self.provider,
                        action=action,
                        request_id=response.headers.get("x-request-id"),
                        cause=exc,
                    ) from None
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def get_json(self, path: str, *, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, self.json_parser(f"GET {path}"), params=params)

    async def post_json(self, path: str, body: dict[str, Any] | None = None, *, retry: bool = True) -> dict[str, Any]:
        return await self.request("POST", path, self.json_parser(f"POST {path}"), json=body, retry=retry)

    async def delete_json(self, path: str) -> dict[str, Any]:
        return await self.request("DELETE", path, self.json_parser(f"DELETE {path}"))

    def json_parser(self, action: str) -> Callable[[httpx.Response], dict[str, Any]]:
        """A ``parse`` for answers that are one JSON object."""
        return lambda response: json_object(response, provider=self.provider, action=action)

    async def stream(
        self, path: str, body: dict[str, Any], read: Callable[[httpx.Response], AsyncGenerator[T, None]]
    ) -> AsyncIterator[T]:
        """POST a streaming request and yield what ``read`` makes of the open response.

        Opening, and reading up to the first item, share one budget of ``max_retries + 1``
        attempts: a 5xx, a timeout or a stream cut off before its first item is retried out
        of that budget. A failure after the first item was yielded is raised as it is (a
        partial answer is never passed off as whole). The stream holds a concurrency slot
        until it ends.
        """
        pools = await self._pools()
        async with pools.throttle.slot():
            first, rest = await self._open_until_first(pools, path, body, read)
            try:
                if first is not _END:
                    yield first
                    async for item in rest:
                        yield item
            finally:
                await rest.aclose()

    async def _open_until_first(
        self, pools: _Pools, path: str, body: dict[str, Any], read: Callable[[httpx.Response], AsyncGenerator[T, None]]
    ) -> tuple[T, AsyncGenerator[T, None]]:
        action = f"POST {path}"
        tokens = estimate_tokens(body) if self.options.rpm or self.options.tpm else 1
        async for attempt in self.retrying():
            with attempt:
                await pools.throttle.admit(tokens)
                response = await self._send_stream(pools, path, body, action)
                items = read(response)
                try:
                    first = await items.__anext__()
                except StopAsyncIteration:
                    return _END, items
                except BaseException as exc:
                    await items.aclose()
                    await response.aclose()
                    if isinstance(exc, Exception) and not isinstance(exc, TunewiseError):
                        raise unexpected_answer(
                            "", provider=self.provider, action=action, cause=exc, request_id=None
                        ) from None
                    raise
                return first, items
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _send_stream(self, pools: _Pools, path: str, body: dict[str, Any], action: str) -> httpx.Response:
        """One HTTP attempt at opening a stream: the open response once it answered 2xx."""
        shard = self._pick(pools)
        client = pools.clients[shard]
        request = client.build_request("POST", path, json=body, headers={"Accept": "text/event-stream"})
        pools.load[shard] += 1
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise error_from_http(exc, provider=self.provider, action=action) from None
        finally:
            pools.load[shard] -= 1
        if response.status_code >= 300:
            try:
                content = await response.aread()
            except httpx.HTTPError as exc:
                raise error_from_http(exc, provider=self.provider, action=action) from None
            finally:
                await response.aclose()
            raise error_from_status(
                response.status_code, response.headers, content, provider=self.provider, action=action
            )
        return response

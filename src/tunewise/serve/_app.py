"""The ASGI app: any `Strategy` behind OpenAI's chat-completions API (starlette).

``POST /v1/chat/completions`` picks the strategy by the body's ``model``; ``GET /v1/models``
lists them; ``GET /health`` (liveness) and ``GET /health/ready`` (readiness: every served
model loaded) answer load balancers without authentication. Errors use OpenAI's
``{"error": {"message", "type", "param", "code"}}`` shape, so OpenAI clients show them as
they show OpenAI's own. No request, however malformed, gets a 500 or a traceback in the
log: a bad request is a 4xx naming what is wrong, and a bug is one logged line and a 500
in the same shape.
"""

from __future__ import annotations

import hmac
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunewise._errors import (
    BadRequestError,
    ConfigError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    TunewiseError,
)
from tunewise._secrets import get_logger, redact, register_secret
from tunewise.interfaces.strategy import Answer, Strategy
from tunewise.serve._wire import (
    ApiError,
    CompletionRequest,
    chunk_json,
    completion_id,
    completion_json,
    finish_reason,
    parse_body,
    shown,
    sse,
    text_pieces,
    tunewise_json,
    usage_json,
)
from tunewise.strategies import stream_calls
from tunewise.strategies._call import ModelCaller

if TYPE_CHECKING:
    from tunewise._model import Model

_log = get_logger("tunewise.serve")

DEFAULT_MAX_BODY_BYTES = 1_000_000
"""1 MB: a long conversation is tens of kilobytes; anything near this is a mistake or an attack."""
DEFAULT_TIMEOUT_S = 300.0


def create_app(
    strategies: Mapping[str, Strategy] | Sequence[Strategy],
    *,
    api_key: SecretStr | str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_concurrency: int | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """An OpenAI-compatible ASGI app serving ``strategies``, keyed by the name clients pass as ``model``.

    Args:
        strategies: ``{name: strategy}``, or strategies keyed by their ``name``.
        api_key: when set, every ``/v1`` request needs ``Authorization: Bearer <api_key>``
            (compared in constant time; never logged).
        max_body_bytes: larger request bodies get 413 before they are parsed.
        timeout_s: a strategy taking longer gets 504 (``None``: no limit).
        max_concurrency: answers computed at once; further requests wait their turn.
        on_shutdown: awaited when the server stops (e.g. a ``Registry``'s ``aclose``).

    Raises:
        ConfigError: a strategy's model cannot be used: no plugin serves its prefix, or its
            provider cannot be created (a missing API key...). Checked here, before any
            server binds, so a typo never starts a server that fails every request.
    """
    served = dict(strategies) if isinstance(strategies, Mapping) else {s.name: s for s in strategies}
    if not served:
        raise ValueError("create_app needs at least one strategy to serve")
    models = {name: models_of(name, strategy) for name, strategy in served.items()}
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be positive, got {max_body_bytes}")
    if timeout_s is not None and not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a positive number of seconds or None, got {timeout_s}")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1 or None, got {max_concurrency}")
    secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
    if secret is not None:
        if not secret.get_secret_value():
            raise ValueError("api_key must not be empty (pass None to serve without authentication)")
        register_secret(secret)
    service = _Service(served, secret, max_body_bytes, timeout_s, max_concurrency)
    readiness = Readiness(models)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(readiness.load_all)
                try:
                    yield
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    service.readiness = readiness
    app = Starlette(
        routes=[
            Route("/health", service.health, methods=["GET"]),
            Route("/health/ready", service.ready, methods=["GET"]),
            Route("/v1/models", service.models, methods=["GET"]),
            Route("/v1/models/{model:path}", service.model, methods=["GET"]),
            Route("/v1/chat/completions", service.completions, methods=["POST"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, _ClientGone: _client_gone},
        middleware=[Middleware(_Guard)],
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # OpenAI answers an unknown path with 404, not a redirect a POST cannot follow
    app.state.strategies = served
    app.state.readiness = readiness
    return app


def models_of(name: str, strategy: Strategy) -> list[Model]:
    """The models ``strategy`` calls, their providers created now: a missing plugin or key is a ConfigError.

    Built-in strategies hold one `ModelCaller`; a strategy of
    your own that holds none is served as it is (its models are its business).
    """
    caller = getattr(strategy, "caller", None)
    if not isinstance(caller, ModelCaller):
        return []
    subject = f"model {caller.ref}" if name == str(caller.ref) else f"strategy {name!r} ({caller.ref})"
    try:
        return [caller.model]
    except TunewiseError as exc:
        raise ConfigError(f"{subject}: {exc}") from None
    except Exception as exc:  # a plugin's create() failing in its own way is still a configuration problem
        raise ConfigError(f"{subject}: its provider could not be created: {type(exc).__name__}: {exc}") from None


class Readiness:
    """Whether every served model can answer now.

    Models whose provider loads them (the local plugin's ``async load(model)``) are loaded when the
    server starts, all at once; the others are ready at once. A load that fails is reported (and
    logged) in one line; requests for that model still reach its provider, which may load it then.
    """

    def __init__(self, models: Mapping[str, Sequence[Model]]) -> None:
        self.keys = {name: [_load_key(m) for m in found] for name, found in models.items()}
        self.loads = {_load_key(m): m for found in models.values() for m in found}
        self.done: dict[tuple[int, str], str | None] = {}
        """Loads finished: ``None`` when the model loaded, else why it did not."""
        self.state: dict[str, str] = {name: "loading" for name in models}
        self.errors: dict[str, str] = {}

    @property
    def ready(self) -> bool:
        return all(state == "ready" for state in self.state.values())

    def _update(self) -> None:
        for name, keys in self.keys.items():
            if not all(key in self.done for key in keys):
                continue
            reasons = [reason for key in keys if (reason := self.done[key]) is not None]
            self.state[name] = "failed" if reasons else "ready"
            if reasons:
                self.errors[name] = reasons[0]

    async def load_all(self) -> None:
        async def load(key: tuple[int, str], model: Model) -> None:
            loader = getattr(model.provider, "load", None)
            reason = None
            if loader is not None and inspect.iscoroutinefunction(loader):
                try:
                    await loader(model.ref.model)
                except Exception as exc:
                    text = str(exc) if isinstance(exc, TunewiseError) else f"{type(exc).__name__}: {exc}"
                    reason = " ".join(redact(text).split())
                    _log.error("%s could not be loaded: %s", model.ref, reason)
            self.done[key] = reason
            self._update()

        self._update()  # strategies without models are ready now
        async with anyio.create_task_group() as tasks:
            for key, model in self.loads.items():
                tasks.start_soon(load, key, model)

    def json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "failed" if "failed" in self.state.values() else "loading",
            "models": {
                name: {"state": state, **({"error": self.errors[name]} if name in self.errors else {})}
                for name, state in sorted(self.state.items())
            },
        }


def _load_key(model: Model) -> tuple[int, str]:
    """One load per provider and model name, however many strategies share them."""
    return id(model.provider), model.ref.model


class _ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


async def _client_gone(request: Request, exc: Exception) -> Response:
    _log.info("%s %s: the client disconnected before sending the whole body", request.method, request.url.path)
    return Response(status_code=400)  # nobody is left to read it


class _Guard:
    """The outermost safety net: an exception no handler turned into a response.

    It is logged as one line (the traceback at debug level) and answered with a 500 in OpenAI's
    shape, never with starlette's plain-text page and uvicorn's "Exception in ASGI application"
    traceback.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        progress = {"started": False, "done": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                progress["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                progress["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            line = " ".join(redact(f"{type(exc).__name__}: {exc}").split())
            _log.error("%s %s failed: %s (a bug in tunewise serve)", scope.get("method"), scope.get("path"), line)
            _log.debug("traceback of that failure", exc_info=exc)
            try:
                if not progress["started"]:
                    error = ApiError(500, "the server failed with an internal error (see its log)", type="server_error")
                    await JSONResponse(error.body(), status_code=500)(scope, receive, send)
                elif not progress["done"]:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
            except Exception:  # the connection is gone: nothing more to say to it
                pass


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else None
    path = request.url.path
    shown_path = path if len(path) <= 100 else path[:100] + "..."
    message = f"{request.method} {shown_path}: {exc.detail}"
    error = ApiError(exc.status_code, message, code=kind)
    return JSONResponse(error.body(), status_code=exc.status_code, headers=exc.headers)


def error_for(exc: BaseException) -> ApiError:
    """The HTTP error a failure while answering becomes; provider text is redacted."""
    if isinstance(exc, TimeoutError):
        return ApiError(504, "the strategy did not answer in time", type="timeout_error", code="timeout")
    if isinstance(exc, RateLimitError):
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if exc.retry_after else {}
        return ApiError(429, redact(str(exc)), type="rate_limit_error", code="provider_rate_limited", headers=headers)
    if isinstance(exc, ProviderTimeoutError):
        return ApiError(504, redact(str(exc)), type="timeout_error", code="provider_timeout")
    if isinstance(exc, BadRequestError):  # the model host refused this request (e.g. longer than its context)
        return ApiError(400, redact(str(exc)), code="provider_rejected_request")
    if isinstance(exc, ProviderError):
        return ApiError(502, redact(str(exc)), type="provider_error", code="provider_error")
    if isinstance(exc, ConfigError):  # the model cannot be used as configured (weights missing, no key...)
        return ApiError(503, redact(str(exc)), type="server_error", code="model_unavailable")
    if isinstance(exc, TunewiseError):
        return ApiError(500, redact(str(exc)), type="server_error", code=type(exc).__name__)
    _log.error("strategy failed: %s", redact(f"{type(exc).__name__}: {exc}"))
    return ApiError(500, "the strategy failed with an internal error (see the server log)", type="server_error")


class _Service:
    """The endpoints, sharing the served strategies and the limits."""

    def __init__(
        self,
        strategies: dict[str, Strategy],
        api_key: SecretStr | None,
        max_body_bytes: int,
        timeout_s: float | None,
        max_concurrency: int | None,
    ) -> None:
        self.strategies = strategies
        self.api_key = api_key.get_secret_value().encode() if api_key is not None else None
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.limiter = anyio.CapacityLimiter(max_concurrency) if max_concurrency else None
        self.created = int(time.time())
        self.readiness = Readiness({})

    # --- checks -------------------------------------------------------------------------

    def authorize(self, request: Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip().encode() if scheme.lower() == "bearer" else b""
        # compare_digest takes time independent of where the tokens differ
        if not hmac.compare_digest(given, self.api_key):
            message = "missing bearer token" if not header else "invalid bearer token"
            raise ApiError(
                401,
                f"{message}: send 'Authorization: Bearer <api key>'",
                type="authentication_error",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    async def read_body(self, request: Request) -> bytes:
        """The body, refused with 413 as soon as it is known to be larger than the limit."""
        too_large = ApiError(
            413,
            f"the request body exceeds the {self.max_body_bytes}-byte limit",
            code="request_too_large",
        )
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ApiError(
                415,
                f"Content-Encoding {shown(encoding)} is not supported: send the JSON body uncompressed",
                code="unsupported_media_type",
            )
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            raise too_large
        body = bytearray()
        try:
            async for part in request.stream():
                body += part
                if len(body) > self.max_body_bytes:
                    raise too_large
        except ClientDisconnect:
            raise _ClientGone() from None
        return bytes(body)

    def strategy(self, name: str) -> Strategy:
        try:
            return self.strategies[name]
        except KeyError:
            known = ", ".join(sorted(self.strategies))
            raise ApiError(
                404,
                f"the model {shown(name)} does not exist; this server serves: {known}",
                param="model",
                code="model_not_found",
            ) from None

    # --- endpoints ----------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """Liveness: the process answers. ``ready`` says whether every model can answer too."""
        return JSONResponse({"status": "ok", "ready": self.readiness.ready, "models": sorted(self.strategies)})

    async def ready(self, request: Request) -> Response:
        """Readiness: 200 once every served model is loaded, 503 while one loads or after one failed to."""
        return JSONResponse(self.readiness.json(), status_code=200 if self.readiness.ready else 503)

    def model_json(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": "tunewise"}

    async def models(self, request: Request) -> Response:
        self.authorize(request)
        return JSONResponse({"object": "list", "data": [self.model_json(n) for n in sorted(self.strategies)]})

    async def model(self, request: Request) -> Response:
        self.authorize(request)
        name = request.path_params["model"]
        self.strategy(name)
        return JSONResponse(self.model_json(name))

    async def completions(self, request: Request) -> Response:
        self.authorize(request)
        body = parse_body(await self.read_body(request))
        strategy = self.strategy(body.model)
        if body.stream:
            return _AnswerStream(self, strategy, body)
        started = time.perf_counter()
        try:
            answer = await self.answer(strategy, body, None)
        except Exception as exc:
            error = error_for(exc)
            _log.info("%s %s -> %d %s", body.model, "complete", error.status, error.code)
            raise error from None
        _log.info(
            "%s complete -> 200 in %.3fs, %s tokens",
            body.model,
            time.perf_counter() - started,
            answer.usage.total_tokens,
        )
        return JSONResponse(completion_json(answer, model=body.model, id=completion_id()))

    async def answer(
        self, strategy: Strategy, body: CompletionRequest, on_delta: Callable[[str], Awaitable[None]] | None
    ) -> Answer:
        """Run the strategy under the limits, streaming its model calls to ``on_delta`` where it can."""

        async def on_chunk(chunk: Any) -> None:
            if on_delta is not None and chunk.delta:
                await on_delta(chunk.delta)

        streams = on_delta is not None and getattr(strategy, "streams_answer", False) is True
        with anyio.fail_after(self.timeout_s), stream_calls(on_chunk if streams else None, options=body.options):
            if self.limiter is None:
                return await strategy.respond(body.messages)
            async with self.limiter:
                return await strategy.respond(body.messages)


_Event = str | Answer | ApiError


class _AnswerStream(Response):
    """Server-sent events in OpenAI's chunk shapes, ended by ``data: [DONE]``.

    The status is decided by the first event: a failure before any text is a plain JSON
    error with its real status (404, 502...), not a 200 stream carrying an error. A failure
    after text was sent ends the stream with an ``{"error": ...}`` event, which OpenAI
    clients raise. A client that disconnects cancels the strategy (and its model call).
    """

    def __init__(self, service: _Service, strategy: Strategy, body: CompletionRequest) -> None:
        super().__init__()
        self.service = service
        self.strategy = strategy
        self.ask = body
        self.id = completion_id()
        self.created = int(time.time())

    async def _produce(self, out: ObjectSendStream[_Event]) -> None:
        async with out:
            try:
                answer = await self.service.answer(self.strategy, self.ask, out.send)
            except Exception as exc:
                await out.send(error_for(exc))
                return
            await out.send(answer)

    def chunk(self, **fields: Any) -> bytes:
        return sse(
            chunk_json(
                id=self.id,
                model=self.ask.model,
                created=self.created,
                include_usage=self.ask.include_usage,
                **fields,
            )
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sender, events = anyio.create_memory_object_stream[_Event](math.inf)
        async with anyio.create_task_group() as tasks, events:
            tasks.start_soon(self._produce, sender)
            tasks.start_soon(self._watch_disconnect, receive, tasks.cancel_scope)  # also while the first text waits
            first = await events.receive()
            if isinstance(first, ApiError):
                _log.info("%s stream -> %d %s", self.ask.model, first.status, first.code)
                await JSONResponse(first.body(), status_code=first.status, headers=first.headers)(scope, receive, send)
                tasks.cancel_scope.cancel()
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            await self._write(first, events, send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tasks.cancel_scope.cancel()

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _log.info("%s stream: client disconnected; cancelling the answer", self.ask.model)
                scope.cancel()
                return

    async def _write(self, first: _Event, events: ObjectReceiveStream[_Event], send: Send) -> None:
        async def body(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        await body(self.chunk(delta={"role": "assistant", "content": ""}))
        streamed: list[str] = []
        event = first
        while True:
            if isinstance(event, str):
                streamed.append(event)
                await body(self.chunk(delta={"content": event}))
            elif isinstance(event, ApiError):
                _log.info("%s stream failed after text: %d %s", self.ask.model, event.status, event.code)
                await body(sse(event.body()))
                return
            else:
                await self._finish(event, "".join(streamed), body)
                return
            event = await events.receive()

    async def _finish(self, answer: Answer, streamed: str, body: Callable[[bytes], Awaitable[None]]) -> None:
        if answer.text.startswith(streamed):
            # Nothing was streamed (a hand-off, a cached or extracted answer): replay the final text.
            for piece in text_pieces(answer.text[len(streamed) :]):
                await body(self.chunk(delta={"content": piece}))
        else:
            _log.warning("%s: the streamed text differs from the strategy's final answer", self.ask.model)
        await body(self.chunk(delta={}, finish=finish_reason(answer), extra={"tunewise": tunewise_json(answer)}))
        if self.ask.include_usage:
            await body(self.chunk(final_usage_chunk=True, usage=usage_json(answer.usage)))
        await body(sse("[DONE]"))
        _log.info("%s stream -> 200, %s tokens", self.ask.model, answer.usage.total_tokens)

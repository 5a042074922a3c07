"""The fake server's HTTP layer: a Starlette app with OpenAI's routes, errors and SSE.

Routes live under ``/v1`` like OpenAI's. ``/_fake/...`` routes let a test (or another
process, e.g. a benchmark) read counters and change fault injection at run time.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tunewise_openai.fake._faults import FaultKind, Faults
from tunewise_openai.fake._state import _TOKEN, APIError, FakeState

Handler = Callable[[Request], Awaitable[Response]]
_ARGUMENT_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)")
"""Roughly a token of JSON text, as tool-call arguments are streamed."""


class _ResetResponse(Response):
    """Starts a response, sends a few bytes, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "chatcmpl-', "more_body": True})
        raise ConnectionResetError("fake OpenAI server: injected connection reset")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json", headers=headers)


class FakeOpenAI:
    """A stateful fake of OpenAI's API as an ASGI app (``fake.app``).

    Args:
        faults: fault injection settings, shared with the caller (changed at run time).
        api_key: when set, requests must carry ``Authorization: Bearer <api_key>``; a
            wrong key gets OpenAI's 401, whose message quotes the key it was given.
    """

    def __init__(self, faults: Faults | None = None, *, api_key: str | None = None) -> None:
        self.faults = faults or Faults()
        self.api_key = api_key
        self.state = FakeState()
        routes = [
            Route("/v1/models", self._guard(self.models), methods=["GET"]),
            Route("/v1/models/{model:path}", self._guard(self.model), methods=["GET"]),
            Route("/v1/chat/completions", self._guard(self.chat), methods=["POST"]),
            Route("/v1/embeddings", self._guard(self.embeddings), methods=["POST"]),
            Route("/v1/files", self._guard(self.upload), methods=["POST"]),
            Route("/v1/files", self._guard(self.list_files), methods=["GET"]),
            Route("/v1/files/{file_id}", self._guard(self.file), methods=["GET", "DELETE"]),
            Route("/v1/files/{file_id}/content", self._guard(self.file_content), methods=["GET"]),
            Route("/v1/fine_tuning/jobs", self._guard(self.create_job), methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self._guard(self.list_jobs), methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self._guard(self.job), methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/cancel", self._guard(self.cancel_job), methods=["POST"]),
            Route("/v1/fine_tuning/jobs/{job_id}/events", self._guard(self.job_events), methods=["GET"]),
            Route("/v1/batches", self._guard(self.create_batch), methods=["POST"]),
            Route("/v1/batches", self._guard(self.list_batches), methods=["GET"]),
            Route("/v1/batches/{batch_id}", self._guard(self.batch), methods=["GET"]),
            Route("/v1/batches/{batch_id}/cancel", self._guard(self.cancel_batch), methods=["POST"]),
            Route("/_fake/faults", self.admin_faults, methods=["GET", "POST"]),
            Route("/_fake/stats", self.admin_stats, methods=["GET"]),
            Route("/_fake/batches", self.admin_batches, methods=["GET", "POST"]),
            Route("/_fake/reset", self.admin_reset, methods=["POST"]),
        ]
        self.app = Starlette(routes=routes)

    def reset(self) -> None:
        """Forget every file, job, batch and counter, and turn faults off."""
        self.state = FakeState()
        self.faults.restore()

    # -- plumbing -------------------------------------------------------------------------

    def _guard(self, handler: Handler) -> Handler:
        """Authentication, request counting, fault injection and OpenAI-shaped errors."""

        async def endpoint(request: Request) -> Response:
            request_id = f"req_{secrets.token_hex(12)}"
            state = self.state  # a reset() mid-request must not skew the new state's counters
            state.count(request.url.path)
            state.enter()
            try:
                self._authenticate(request)
                streaming = False
                if request.method == "POST" and request.url.path.endswith("/chat/completions"):
                    body = await request.json()
                    streaming = bool(isinstance(body, dict) and body.get("stream"))
                fault = self.faults.draw(request.url.path, streaming=streaming, method=request.method)
                if fault is not None:
                    early = await self._fault(fault)
                    if early is not None:
                        early.headers["x-request-id"] = request_id
                        return early
                request.state.fault = fault
                response = await handler(request)
                if fault == "lost":
                    return _ResetResponse()
            except APIError as exc:
                response = _json(exc.body, exc.status)
            except json.JSONDecodeError:
                response = _json(APIError(400, "We could not parse the JSON body of your request.").body, 400)
            finally:
                state.leave()
            response.headers["x-request-id"] = request_id
            return response

        return endpoint

    def _authenticate(self, request: Request) -> None:
        if self.api_key is None:
            return
        given = request.headers.get("authorization", "")
        if given != f"Bearer {self.api_key}":
            key = given.removeprefix("Bearer ").strip()
            raise APIError(
                401,
                f"Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com.",
                code="invalid_api_key",
            )

    async def _fault(self, kind: FaultKind) -> Response | None:
        """The response for an injected fault, or None when it acts later (truncate)."""
        if kind == "rate_limit":
            ms = self.faults.retry_after_ms
            body = APIError(429, "Rate limit reached for requests", type="requests", code="rate_limit_exceeded").body
            return _json(body, 429, {"retry-after-ms": str(ms), "retry-after": str(max(1, math.ceil(ms / 1000)))})
        if kind == "server_error":
            return _json(
                APIError(500, "The server had an error processing your request.", type="server_error").body, 500
            )
        if kind == "unavailable":
            return _json(APIError(503, "The engine is currently overloaded.", type="server_error").body, 503)
        if kind == "reset":
            return _ResetResponse()
        if kind == "timeout":
            await anyio.sleep(self.faults.hang_s)
            return None
        if kind == "malformed":
            return Response('{"id": "chatcmpl-broken", "choices": [', media_type="application/json")
        return None

    # -- models -----------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        return _json({"object": "list", "data": self.state.list_models()})

    async def model(self, request: Request) -> Response:
        name = request.path_params["model"]
        if not self.state.known_model(name):
            raise APIError(404, f"The model '{name}' does not exist", code="model_not_found")
        return _json(self.state.model_object(name))

    # -- chat and embeddings ------------------------------------------------------------------

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        completion = self.state.completion(body)
        last = str(body["messages"][-1].get("content") or "")
        if not body.get("stream") or "NOSTREAM" in last:  # NOSTREAM: a server that ignores stream=true
            return _json(completion)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        fault = getattr(request.state, "fault", None)
        truncate, cut = fault == "truncate", fault == "cut"
        return StreamingResponse(_sse(completion, include_usage, truncate, cut), media_type="text/event-stream")

    async def embeddings(self, request: Request) -> Response:
        return _json(self.state.embeddings(await request.json()))

    # -- files ----------------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise APIError(400, "file uploads must be multipart/form-data")
        raw = await request.body()
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        fields: dict[str, bytes] = {}
        filename = "upload"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload
                if name == "file":
                    filename = str(part.get_filename() or filename)
        if "file" not in fields or "purpose" not in fields:
            raise APIError(400, "a file upload needs 'file' and 'purpose' fields")
        return _json(self.state.add_file(filename, fields["purpose"].decode(), fields["file"]))

    async def list_files(self, request: Request) -> Response:
        purpose = request.query_params.get("purpose")
        files = [f for f in self.state.files.values() if purpose is None or f["purpose"] == purpose]
        return _json({"object": "list", "data": files, "has_more": False})

    async def file(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if request.method == "DELETE":
            return _json(self.state.delete_file(file_id))
        return _json(self.state.get_file(file_id))

    async def file_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        self.state.get_file(file_id)
        return Response(self.state.contents[file_id], media_type="application/octet-stream")

    # -- fine-tuning -------------------------------------------------------------------------------

    async def create_job(self, request: Request) -> Response:
        return _json(self.state.create_job(await request.json()))

    async def list_jobs(self, request: Request) -> Response:
        params = request.query_params
        metadata = {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}
        limit = int(params.get("limit", 20))
        return _json(self.state.list_jobs(after=params.get("after"), limit=limit, metadata=metadata))

    async def job(self, request: Request) -> Response:
        return _json(self.state.retrieve_job(request.path_params["job_id"]))

    async def cancel_job(self, request: Request) -> Response:
        return _json(self.state.cancel_job(request.path_params["job_id"]))

    async def job_events(self, request: Request) -> Response:
        params = request.query_params
        page = self.state.list_events(
            request.path_params["job_id"], after=params.get("after"), limit=int(params.get("limit", 20))
        )
        return _json(page)

    # -- batches -------------------------------------------------------------------------------------

    async def create_batch(self, request: Request) -> Response:
        return _json(self.state.create_batch(await request.json()))

    async def list_batches(self, request: Request) -> Response:
        batches = sorted(self.state.batches.values(), key=lambda b: b["id"], reverse=True)
        return _json({"object": "list", "data": batches, "has_more": False})

    async def batch(self, request: Request) -> Response:
        return _json(self.state.retrieve_batch(request.path_params["batch_id"]))

    async def cancel_batch(self, request: Request) -> Response:
        return _json(self.state.cancel_batch(request.path_params["batch_id"]))

    # -- admin ---------------------------------------------------------------------------------------

    async def admin_faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.faults.configure(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self.faults.as_dict())

    async def admin_batches(self, request: Request) -> Response:
        """``{"hold": bool, "fail_requests": int}``: hold batches ``in_progress``; fail the next batch requests."""
        state = self.state
        if request.method == "POST":
            body = await request.json()
            if not isinstance(body, dict) or set(body) - {"hold", "fail_requests"}:
                return JSONResponse({"error": "expected {hold: bool, fail_requests: int}"}, status_code=400)
            with state.lock:
                state.hold_batches = bool(body.get("hold", state.hold_batches))
                state.fail_batch_requests = int(body.get("fail_requests", state.fail_batch_requests))
        return JSONResponse({"hold": state.hold_batches, "fail_requests": state.fail_batch_requests})

    async def admin_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def admin_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    def stats(self) -> dict[str, Any]:
        """Counters a test can assert on: completions served, jobs, batches, faults."""
        state = self.state
        return {
            "completions_served": state.completions_served,
            "requests_by_path": dict(state.requests_by_path),
            "files": len(state.files),
            "jobs": len(state.jobs),
            "batches": len(state.batches),
            "max_in_flight": state.max_in_flight,
            "faults_injected": dict(self.faults.injected),
        }


async def _sse(
    completion: dict[str, Any], include_usage: bool, truncate: bool, cut: bool = False
) -> AsyncIterator[str]:
    """The completion as ``chat.completion.chunk`` events, as OpenAI streams them.

    ``truncate`` stops halfway through the text, ``cut`` after the opening chunk (no text).
    """
    choice = completion["choices"][0]
    message = choice["message"]
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "system_fingerprint": completion["system_fingerprint"],
        "service_tier": "default",
    }

    def event(delta: dict[str, Any], finish: str | None = None, usage: Any = None, choices: bool = True) -> str:
        chunk = dict(base)
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        if include_usage:
            chunk["usage"] = usage
        return f"data: {json.dumps(chunk)}\n\n"

    pieces: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
    if message.get("refusal"):
        pieces += [{"refusal": p} for p in _TOKEN.findall(message["refusal"])]
    elif message.get("tool_calls"):
        pieces = [{"role": "assistant", "content": None, "refusal": None}]
        for index, call in enumerate(message["tool_calls"]):
            # OpenAI opens each call with its id, type and name and empty arguments, then
            # streams the arguments in token-sized pieces carrying only the index.
            function = call["function"]
            opener = {"index": index, "id": call["id"], "type": "function", "function": {**function, "arguments": ""}}
            pieces.append({"tool_calls": [opener]})
            for piece in _ARGUMENT_PIECE.findall(function["arguments"]):
                pieces.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    else:
        pieces += [{"content": p} for p in _TOKEN.findall(message["content"] or "")]
    if truncate or cut:
        pieces = pieces[:1] if cut else pieces[: max(1, len(pieces) // 2)]
    for delta in pieces:
        yield event(delta)
        await anyio.lowlevel.checkpoint()
    if truncate or cut:
        return
    yield event({}, choice["finish_reason"])
    if include_usage:
        yield event({}, usage=completion["usage"], choices=False)
    yield "data: [DONE]\n\n"

"""Every surface of the plugin fails with one tunewise error, never an ExceptionGroup or a raw exception.

Two real servers make it fail: the fake OpenAI server with faults on every request
(500s, malformed JSON, dropped connections), and a plain HTTP server that answers every
request with a 200 of the wrong shape (a list for an object, fields of the wrong type,
JSON nested deeper than Python's recursion limit, broken server-sent events).
Each surface (chat, stream, embeddings, files, batches, fine-tune jobs, models) must end
in a :class:`TunewiseError` whose message is one line and free of the API key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tunewise import ChatRequest, FineTuneSpec, Message, ProviderError, TunewiseError
from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer

from .conftest import FAST, SECRET

pytestmark = pytest.mark.anyio

EXAMPLE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def ask(text: str = "hello there") -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message.user(text),), max_tokens=20)


async def _stream(p: OpenAIProvider) -> Any:
    return [chunk async for chunk in p.stream(ask())]


def _spec(tmp_path: Path) -> FineTuneSpec:
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(EXAMPLE) + "\n", encoding="utf-8")
    return FineTuneSpec(base_model="gpt-4o-mini", training_file=train)


Surface = Callable[[OpenAIProvider, Path], Awaitable[Any]]
SURFACES: dict[str, Surface] = {
    "chat": lambda p, _: p.chat(ask()),
    "stream": lambda p, _: _stream(p),
    "embed": lambda p, _: p.embedder("text-embedding-3-small").embed(["a", "b", "c"]),
    "embed in many batches": lambda p, _: p.embedder("text-embedding-3-small").embed([f"t{i}" for i in range(4500)]),
    "files.upload": lambda p, _: p.files.upload(b'{"a": 1}\n', purpose="batch"),
    "files.retrieve": lambda p, _: p.files.retrieve("file-1"),
    "files.list": lambda p, _: p.files.list(),
    "files.content": lambda p, _: p.files.content("file-1"),
    "files.delete": lambda p, _: p.files.delete("file-1"),
    "batches.run": lambda p, _: p.batches.run([ask("a"), ask("b")], poll_interval=0, timeout=1),
    "batches.retrieve": lambda p, _: p.batches.retrieve("batch_1"),
    "fine_tuner.start": lambda p, tmp: p.fine_tuner().start(_spec(tmp)),
    "fine_tuner.attach": lambda p, _: p.fine_tuner().attach("ftjob-1"),
    "models": lambda p, _: p.models(),
}


def check_one_line(error: BaseException) -> None:
    assert isinstance(error, TunewiseError), f"{type(error).__name__}: {error}"
    assert not isinstance(error, BaseExceptionGroup)
    text = str(error)
    assert text and "\n" not in text and SECRET not in text and SECRET not in repr(error)


@pytest.mark.parametrize("fault", ["server_error", "malformed", "reset"])
@pytest.mark.parametrize("surface", list(SURFACES))
async def test_failing_fake_server_gives_one_tunewise_error_per_surface(
    fake: FakeServer, tmp_path: Path, surface: str, fault: str
) -> None:
    fake.faults.configure(rate=1.0, kinds=(fault,))
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options={**FAST, "max_retries": 1}, home=tmp_path)
    if (surface, fault) == ("files.content", "malformed"):  # raw bytes: any body is a file's content
        async with provider:
            assert await SURFACES[surface](provider, tmp_path) == b'{"id": "chatcmpl-broken", "choices": ['
        return
    async with provider:
        with pytest.raises(Exception) as failed:
            await SURFACES[surface](provider, tmp_path)
    check_one_line(failed.value)
    assert isinstance(failed.value, ProviderError)


class _WrongShape(BaseHTTPRequestHandler):
    content_type = "application/json"
    body = b"[]"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", self.content_type)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-answer (a retry cut short) is expected here


@pytest.fixture(scope="module")
def wrong_shape() -> Iterator[Callable[[str, bytes], str]]:
    """A real HTTP server on loopback that answers every request with one 200 body; yields a setter."""
    handler = type("Handler", (_WrongShape,), {})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def answer(content_type: str, body: bytes) -> str:
        handler.content_type, handler.body = content_type, body
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    try:
        yield answer
    finally:
        server.shutdown()
        server.server_close()


JSON = "application/json"
SSE = "text/event-stream"
WRONG: dict[str, tuple[str, bytes]] = {
    "a list": (JSON, b"[1, 2]"),
    "a string": (JSON, b'"hello"'),
    "null": (JSON, b"null"),
    "an empty object": (JSON, b"{}"),
    "fields of the wrong type": (
        JSON,
        b'{"id": 5, "data": "x", "choices": "none", "object": 3, "filename": [], "status": {}}',
    ),
    "a list of the wrong items": (JSON, b'{"data": [1, "x", null], "choices": [{"message": "hi"}]}'),
    "content that is a list": (JSON, b'{"choices": [{"message": {"content": [1]}}], "data": [{"index": "z"}]}'),
    "nested past the recursion limit": (JSON, b"[" * 5_000 + b"]" * 5_000),
    "not JSON at all": (JSON, b"<html>502 Bad Gateway</html>"),
    "events of the wrong shape": (SSE, b'data: [1, 2]\n\ndata: {"choices": "x"}\n\ndata: [DONE]\n\n'),
    "events with choices of the wrong shape": (SSE, b'data: {"choices": [{"delta": "x"}]}\n\ndata: [DONE]\n\n'),
    "an event nested too deep": (SSE, b"data: " + b"[" * 5_000 + b"\n\n"),
}


@pytest.mark.parametrize("answer", list(WRONG))
@pytest.mark.parametrize("surface", list(SURFACES))
async def test_answers_of_the_wrong_shape_give_one_tunewise_error_or_a_result(
    wrong_shape: Callable[[str, bytes], str], tmp_path: Path, surface: str, answer: str
) -> None:
    base_url = wrong_shape(*WRONG[answer])
    provider = OpenAIProvider(base_url=base_url, api_key=SECRET, options={**FAST, "max_retries": 1}, home=tmp_path)
    async with provider:
        try:
            await SURFACES[surface](provider, tmp_path)
        except Exception as exc:
            check_one_line(exc)


async def test_a_bad_base_url_is_a_config_error() -> None:
    from tunewise import ConfigError

    for url in ("localhost:8000/v1", "ftp://example.com/v1", "http://", "not a url"):
        with pytest.raises(ConfigError, match=r"base_url"):
            OpenAIProvider(base_url=url, api_key=SECRET)


async def test_bad_inputs_to_embed_and_batches_are_one_line_errors(fake: FakeServer, tmp_path: Path) -> None:
    provider = OpenAIProvider(base_url=fake.base_url, api_key=SECRET, options=FAST, home=tmp_path)
    async with provider:
        embedder = provider.embedder()
        for bad in ("one string", None, [1, 2], ["ok", None]):
            with pytest.raises(TunewiseError) as failed:
                await embedder.embed(bad)  # type: ignore[arg-type]
            check_one_line(failed.value)
        for requests in (None, "text", [ask(), "not a request"]):
            with pytest.raises(TunewiseError) as failed:
                await provider.batches.run(requests)  # type: ignore[arg-type]
            check_one_line(failed.value)
    assert fake.stats()["requests_by_path"] == {}

"""``tunewise.serve`` on a real uvicorn server on 127.0.0.1, driven by the official ``openai`` client and httpx."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from tunewise import ChatChunk, ChatRequest, Model, ModelRef, RateLimitError, ServerError
from tunewise.serve import BackgroundServer, create_app
from tunewise.strategies import ChainOfThought, RagFineTuned, SystemPrompt, ZeroShot
from tunewise.testing import HashingEmbedder, InMemoryRetriever, ScriptedProvider

TOKEN = "sk-serve-test-7f3a9c2e1b"
LEAKED = "sk-provider-secret-0123456789"
HANDOFF = "A person from our team will answer you shortly."


class GatedProvider(ScriptedProvider):
    """Streams its first word, then waits until the test has *received* it before sending the rest.

    If the server buffered the stream, the client would never see the first word early and the
    gate would time out: ``released_in_time`` proves the chunks travel as the model writes them.
    """

    def __init__(self) -> None:
        super().__init__(lambda r: "alpha beta gamma delta")
        self.gate = threading.Event()
        self.released_in_time: bool | None = None

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        response = await self.chat(request)
        words = response.text.split(" ")
        yield ChatChunk(delta=words[0], model=response.model)
        self.released_in_time = await anyio.to_thread.run_sync(self.gate.wait, 10.0)
        for word in words[1:-1]:
            yield ChatChunk(delta=" " + word, model=response.model)
        yield ChatChunk(delta=" " + words[-1], finish_reason="stop", usage=response.usage, model=response.model)


class BrokenMidStream(ScriptedProvider):
    """Sends two words, then the connection to the model breaks."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(delta="Hi", model=request.model)
        yield ChatChunk(delta=" there", model=request.model)
        raise ServerError(f"upstream reset (key {LEAKED})", status=503, provider="scripted")


class Endless(ScriptedProvider):
    """Streams one word, then never finishes; records whether it was cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = threading.Event()

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        yield ChatChunk(delta="forever", model=request.model)
        try:
            await anyio.sleep(60)
        finally:
            self.cancelled.set()


HUNG_UP = threading.Event()


async def hang(request: ChatRequest) -> str:
    try:
        await anyio.sleep(60)
    finally:
        HUNG_UP.set()
    return "never"


def fail(request: ChatRequest) -> str:
    raise ServerError(f"upstream exploded, auth={LEAKED}", status=500, provider="scripted", request_id="req_9")


def limited(request: ChatRequest) -> str:
    raise RateLimitError("slow down", retry_after=7, provider="scripted")


def cot_reply(request: ChatRequest) -> str:
    return "Two plus three is five.\nAnswer: 5"


def kb_reply(request: ChatRequest) -> str:
    return "Hi there! Refunds are issued within 14 days [1]."


def model(provider: ScriptedProvider, ref: str = "scripted:demo") -> Model:
    return Model(ModelRef.parse(ref), provider)


class Fixture:
    def __init__(self) -> None:
        self.echo = ScriptedProvider()
        self.gated = GatedProvider()
        self.endless = Endless()
        kb = InMemoryRetriever(
            [
                {"id": "refunds", "text": "Refunds are issued within 14 days of the request.", "source": "refunds.md"},
                {"id": "sso", "text": "SSO with SAML is available on the Business plan.", "source": "sso.md"},
            ],
            HashingEmbedder(256),
        )
        self.bot_provider = ScriptedProvider(kb_reply)
        bot = RagFineTuned(
            model(self.bot_provider, "scripted:ft:support"),
            kb,
            threshold=0.25,
            k=2,
            on_low_relevance="handoff",
            handoff_message=HANDOFF,
        )
        self.strategies: dict[str, Any] = {
            "echo": ZeroShot(model(self.echo), name="echo"),
            "support-bot": bot,
            "gated": ZeroShot(model(self.gated), name="gated"),
            "cot": ChainOfThought(model(ScriptedProvider(cot_reply)), name="cot"),
            "broken": ZeroShot(model(ScriptedProvider(fail)), name="broken"),
            "limited": ZeroShot(model(ScriptedProvider(limited)), name="limited"),
            "mid-stream": ZeroShot(model(BrokenMidStream()), name="mid-stream"),
            "endless": ZeroShot(model(self.endless), name="endless"),
            "hanging": ChainOfThought(model(ScriptedProvider(hang)), name="hanging"),
            "local:/models/qwen+/adapters/support": ZeroShot(model(ScriptedProvider()), name="x"),
        }


@pytest.fixture(scope="module")
def fx() -> Fixture:
    return Fixture()


@pytest.fixture(scope="module")
def server(fx: Fixture) -> Iterator[BackgroundServer]:
    app = create_app(fx.strategies, api_key=TOKEN, max_body_bytes=64_000)
    with BackgroundServer(app) as running:
        yield running


@pytest.fixture
def client(server: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=TOKEN, max_retries=0, timeout=30)


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


# --- the official client --------------------------------------------------------------------


def test_completion_with_the_official_client(client: openai.OpenAI, fx: Fixture) -> None:
    completion = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "How many days do refunds take?"}]
    )
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "support-bot"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == "Hi there! Refunds are issued within 14 days [1]."
    request = fx.bot_provider.requests[-1]
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == sum(len((m.content or "").split()) + 3 for m in request.messages) + 3
    assert completion.usage.completion_tokens == 9
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 9
    extra = completion.model_extra or {}
    assert extra["tunewise"]["handoff"] is False
    assert extra["tunewise"]["sources"][0]["source"] == "refunds.md"
    assert extra["tunewise"]["cited"] == ["refunds.md"]


def test_served_sources_never_show_server_paths(tmp_path: Path) -> None:
    from tunewise.retrieval import Index

    (tmp_path / "kb" / "billing").mkdir(parents=True)
    (tmp_path / "kb" / "billing" / "refunds.md").write_text("# Refunds\n\nRefunds are issued within 14 days.\n")
    index = Index.open(tmp_path / "index", "served-kb", embedder=HashingEmbedder(64))
    anyio.run(index.add, tmp_path / "kb")
    # an index ingested before sources were relative still holds absolute paths: the wire cuts them
    legacy = InMemoryRetriever(
        [{"id": "old", "text": "Refunds are issued within 14 days.", "source": f"{tmp_path}/kb/old.jsonl#7"}],
        HashingEmbedder(64),
    )
    strategies = {
        name: RagFineTuned(model(ScriptedProvider(kb_reply), "scripted:ft:support"), retriever, threshold=0.1, k=1)
        for name, retriever in (("indexed", index.retriever("hybrid")), ("legacy", legacy))
    }
    with BackgroundServer(create_app(strategies)) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        for name, shown in (("indexed", "billing/refunds.md"), ("legacy", "old.jsonl#7")):
            question = {"role": "user", "content": "How many days do refunds take?"}
            body = http.post("/v1/chat/completions", json={"model": name, "messages": [question]}).json()
            assert body["tunewise"]["sources"][0]["source"] == shown and body["tunewise"]["cited"] == [shown]
            assert str(tmp_path) not in json.dumps(body)


def test_handoff_is_flagged(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="support-bot", messages=[{"role": "user", "content": "tell me a pirate joke"}]
    )
    assert completion.choices[0].message.content == HANDOFF
    assert (completion.model_extra or {})["tunewise"]["handoff"] is True
    assert completion.usage is not None and completion.usage.total_tokens == 0


def test_conversation_and_options_reach_the_model(client: openai.OpenAI, fx: Fixture) -> None:
    completion = client.chat.completions.create(
        model="echo",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "one two"}, {"type": "text", "text": "three four"}]},
        ],
        temperature=0.25,
        max_tokens=3,
        seed=7,
        stop=["never"],
    )
    request = fx.echo.requests[-1]
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[-1].content == "one two\nthree four"
    assert (request.temperature, request.max_tokens, request.seed, request.stop) == (0.25, 3, 7, ("never",))
    assert completion.choices[0].message.content == "one two\nthree"
    assert completion.choices[0].finish_reason == "length"


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    deltas = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert deltas == ["one", " two", " three", " four"]  # the provider's own chunks, one per word
    finish = chunks[-2]
    assert finish.choices[0].finish_reason == "stop" and finish.usage is None
    assert (finish.model_extra or {})["tunewise"]["handoff"] is False
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (10, 4)


def test_stream_travels_as_the_model_writes(client: openai.OpenAI, fx: Fixture) -> None:
    stream = client.chat.completions.create(model="gated", messages=[{"role": "user", "content": "go"}], stream=True)
    texts: list[str] = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            texts.append(chunk.choices[0].delta.content)
            fx.gated.gate.set()  # only now may the model go on
    assert "".join(texts) == "alpha beta gamma delta"
    assert fx.gated.released_in_time is True


def test_stream_of_a_handoff_and_of_an_extracted_answer(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="support-bot", messages=[{"role": "user", "content": "tell me a pirate joke"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == HANDOFF
    assert (chunks[-1].model_extra or {})["tunewise"]["handoff"] is True
    chunks = list(
        client.chat.completions.create(model="cot", messages=[{"role": "user", "content": "2+3?"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "5"  # the answer, not the reasoning


def test_raw_sse_shape(http: httpx.Client) -> None:
    body = {"model": "echo", "messages": [{"role": "user", "content": "hello world"}], "stream": True}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all("usage" not in p for p in payloads)  # only with stream_options.include_usage
    assert payloads[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_models(client: openai.OpenAI, fx: Fixture) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == sorted(fx.strategies)
    assert client.models.retrieve("local:/models/qwen+/adapters/support").owned_by == "tunewise"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5")


# --- errors -----------------------------------------------------------------------------------


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert "\n" not in body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b"{not json", None, "invalid_json"),
        (b"[1, 2]", None, "invalid_json"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model", "missing_required_parameter"),
        (b'{"model": "echo"}', "messages", "missing_required_parameter"),
        (b'{"model": "echo", "messages": []}', "messages", "empty_array"),
        (b'{"model": "echo", "messages": "hi"}', "messages", "invalid_type"),
        (b'{"model": "echo", "messages": [{"role": "bot", "content": "hi"}]}', "messages[0].role", "invalid_value"),
        (b'{"model": "echo", "messages": [{"content": "hi"}]}', "messages[0].role", "missing_required_parameter"),
        (b'{"model": "echo", "messages": [{"role": "system", "content": "x"}]}', "messages", "invalid_value"),
        (b'{"model": "echo", "messages": [{"role": "tool", "content": "x"}]}', "messages[0]", "invalid_value"),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            "messages[0].content[0]",
            "unsupported",
        ),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "n": 2}', "n", "unsupported"),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}',
            "tools",
            "unsupported",
        ),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "temperature": 5}', "temperature", None),
        (b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens", None),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "stream_options": {}}',
            "stream_options",
            "invalid_value",
        ),
        (
            b'{"model": "echo", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json"}}',
            "response_format",
            "unsupported",
        ),
    ],
)
def test_malformed_requests(http: httpx.Client, body: bytes, param: str | None, code: str | None) -> None:
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code


def test_unknown_model_is_404_naming_the_served_ones(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 404
    error = error_of(response)
    assert (error["param"], error["code"]) == ("model", "model_not_found")
    assert "'gpt-4o'" in error["message"] and "support-bot" in error["message"]


def test_too_large_bodies(http: httpx.Client) -> None:
    big = {"model": "echo", "messages": [{"role": "user", "content": "x" * 70_000}]}
    response = http.post("/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"model": "echo", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 8_000
        yield b'"}]}'

    response = http.post("/v1/chat/completions", content=chunked())
    assert response.status_code == 413


def test_authentication(server: BackgroundServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = server.url
    assert httpx.get(url + "/health").json()["status"] == "ok"  # no token needed
    missing = httpx.get(url + "/v1/models")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert error_of(missing)["type"] == "authentication_error"
    wrong = openai.OpenAI(base_url=url + "/v1", api_key=TOKEN + "x", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    basic = httpx.get(url + "/v1/models", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    assert TOKEN not in caplog.text


def test_provider_failure_is_502_and_redacted(client: openai.OpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 502
    body = raised.value.body
    assert isinstance(body, dict)
    assert body["type"] == "provider_error" and "upstream exploded" in body["message"]
    assert "req_9" in body["message"] and LEAKED not in str(body)
    with pytest.raises(openai.InternalServerError):  # streaming: still a plain 502, no text was sent yet
        list(client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert LEAKED not in caplog.text and TOKEN not in caplog.text


def test_rate_limit_passes_through_with_retry_after(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions", json={"model": "limited", "messages": [{"role": "user", "content": "x"}]}
    )
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert error_of(response)["type"] == "rate_limit_error"


def test_failure_after_text_ends_the_stream_with_an_error_event(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="mid-stream", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen: list[str] = []

    def read_all() -> None:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)

    with pytest.raises(openai.APIError) as raised:
        read_all()
    assert "".join(seen) == "Hi there"
    assert "upstream reset" in raised.value.message and LEAKED not in raised.value.message


def test_client_disconnect_cancels_the_answer(server: BackgroundServer, fx: Fixture) -> None:
    body = {"model": "endless", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with (
        httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c,
        c.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        for line in response.iter_lines():
            if "forever" in line:
                break
    assert fx.endless.cancelled.wait(10), "the strategy kept running after the client left"


def test_client_leaving_before_the_first_text_cancels_the_answer(server: BackgroundServer) -> None:
    body = {"model": "hanging", "messages": [{"role": "user", "content": "x"}], "stream": True}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/chat/completions", json=body, headers=headers, timeout=0.5)
    assert HUNG_UP.wait(10), "the strategy kept running after the client left"


def test_wrong_method_and_path_use_the_error_shape(http: httpx.Client) -> None:
    assert http.get("/v1/chat/completions").status_code == 405
    assert error_of(http.get("/v1/chat/completions"))["code"] == "method_not_allowed"
    assert error_of(http.get("/v2/anything"))["code"] == "not_found"


def test_timeout_is_504() -> None:
    slow = ZeroShot(model(ScriptedProvider(latency=5.0)), name="slow")
    with BackgroundServer(create_app({"slow": slow}, timeout_s=0.2)) as running:
        started = time.perf_counter()
        response = httpx.post(
            running.url + "/v1/chat/completions", json={"model": "slow", "messages": [{"role": "user", "content": "x"}]}
        )
        assert response.status_code == 504 and error_of(response)["code"] == "timeout"
        assert time.perf_counter() - started < 4


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one strategy"):
        create_app({})
    with pytest.raises(ValueError, match="api_key"):
        create_app([ZeroShot("scripted:echo", name="e")], api_key="")
    for limits in ({"timeout_s": 0}, {"timeout_s": float("nan")}, {"max_concurrency": 0}, {"max_body_bytes": 0}):
        with pytest.raises(ValueError, match=next(iter(limits))):
            create_app([ZeroShot("scripted:echo", name="e")], **limits)


# --- readiness and start-up checks -------------------------------------------------------------


class SlowToLoad(ScriptedProvider):
    """Loads its model (as the local plugin's ``load`` does) only when the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.loaded: list[str] = []

    async def load(self, model: str) -> None:
        await anyio.to_thread.run_sync(self.gate.wait, 30.0)
        self.loaded.append(model)


def wait_until(check: Any, what: str) -> Any:
    """Poll ``check`` until it returns something truthy (a wait with a generous bound, not a timed assertion)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def test_readiness_waits_for_every_model_to_load() -> None:
    slow = SlowToLoad()
    strategies = {
        "big": ZeroShot(model(slow, "scripted:big-model"), name="big"),
        "also-big": SystemPrompt(model(slow, "scripted:big-model"), "Be brief.", name="also-big"),
        "echo": ZeroShot(model(ScriptedProvider()), name="echo"),
    }
    with BackgroundServer(create_app(strategies)) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        live = http.get("/health")
        assert live.status_code == 200 and live.json() == {
            "status": "ok",
            "ready": False,
            "models": ["also-big", "big", "echo"],
        }
        ready = http.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "loading",
            "models": {"also-big": {"state": "loading"}, "big": {"state": "loading"}, "echo": {"state": "ready"}},
        }
        slow.gate.set()
        wait_until(lambda: http.get("/health/ready").status_code == 200, "the models loaded")
        assert slow.loaded == ["big-model"]  # loaded once for both strategies
        assert http.get("/health").json()["ready"] is True
        answer = http.post(
            "/v1/chat/completions", json={"model": "big", "messages": [{"role": "user", "content": "x"}]}
        )
        assert answer.status_code == 200


def test_a_model_that_cannot_load_is_reported_not_ready(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    strategies = {
        "missing": ZeroShot("local:/does/not/exist", name="missing"),
        "echo": ZeroShot(model(ScriptedProvider()), name="echo"),
    }
    with BackgroundServer(create_app(strategies)) as running, httpx.Client(base_url=running.url, timeout=60) as http:
        body = wait_until(lambda: (r := http.get("/health/ready").json())["status"] != "loading" and r, "a verdict")
        assert body["status"] == "failed"
        assert body["models"]["echo"] == {"state": "ready"}
        assert body["models"]["missing"]["state"] == "failed"
        assert "/does/not/exist does not exist" in body["models"]["missing"]["error"]
        assert http.get("/health/ready").status_code == 503 and http.get("/health").json()["ready"] is False
        answer = http.post(
            "/v1/chat/completions", json={"model": "missing", "messages": [{"role": "user", "content": "x"}]}
        )
        assert 500 <= answer.status_code < 600 and answer.status_code != 500
        assert "/does/not/exist" in error_of(answer)["message"]
        hello = http.post(
            "/v1/chat/completions", json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert hello.status_code == 200  # the other models still answer
    lines = [r for r in caplog.records if "could not be loaded" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "ERROR" and lines[0].exc_info is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nosuch:model", "strategy 'bot' (nosuch:model): no provider plugin for prefix 'nosuch'"),
        ("openai:gpt-4o-mini", "strategy 'bot' (openai:gpt-4o-mini): openai: no API key"),
    ],
)
def test_create_app_refuses_a_model_it_cannot_reach(
    ref: str, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tunewise import ConfigError, Registry
    from tunewise._settings import load_settings

    for variable in ("OPENAI_API_KEY", "TUNEWISE_OPENAI_API_KEY", "TUNEWISE_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    registry = Registry(load_settings(home=tmp_path))
    with pytest.raises(ConfigError) as raised:
        create_app({"bot": ZeroShot(ref, name="bot", registry=registry)})
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_unexpected_failures_are_one_line_and_a_500_in_openai_shape(caplog: pytest.LogCaptureFixture) -> None:
    class Buggy:
        name = "buggy"

        async def respond(self, conversation: Any) -> Any:
            raise KeyError("a bug")

    caplog.set_level(logging.DEBUG)
    with BackgroundServer(create_app({"buggy": Buggy()})) as running:
        response = httpx.post(
            running.url + "/v1/chat/completions",
            json={"model": "buggy", "messages": [{"role": "user", "content": "x"}]},
        )
    assert response.status_code == 500 and error_of(response)["type"] == "server_error"
    assert [r.levelname for r in caplog.records if "KeyError" in r.getMessage()] == ["ERROR"]

"""The fake as its own process, driven over HTTP: what benchmarks and other languages' tests use."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tunewise_openai.fake import FakeServer


def test_fake_server_process_with_faults_switched_over_http() -> None:
    server = subprocess.Popen([sys.executable, "-m", "tunewise_openai.fake"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = json.loads(server.stdout.readline())["base_url"]
        root = base_url.removesuffix("/v1")
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(timeout=5) as client:
            assert client.post(f"{base_url}/chat/completions", json=body).json()["choices"][0]["message"]["content"]
            switched = client.post(f"{root}/_fake/faults", json={"rate": 1.0, "kinds": ["unavailable"], "seed": 4})
            assert switched.json()["rate"] == 1.0
            failed = client.post(f"{base_url}/chat/completions", json=body)
            assert failed.status_code == 503 and failed.json()["error"]["type"] == "server_error"
            assert failed.headers["x-request-id"].startswith("req_")
            refused = client.post(f"{root}/_fake/faults", json={"kinds": ["no-such-fault"]})
            assert refused.status_code == 400 and "unknown fault kinds" in refused.json()["error"]
            stats = client.get(f"{root}/_fake/stats").json()
            assert stats["completions_served"] == 1 and stats["faults_injected"] == {"unavailable": 1}
            assert client.post(f"{root}/_fake/reset").json() == {"reset": True}
            assert client.post(f"{base_url}/chat/completions", json=body).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.anyio
async def test_the_reusable_fixture_serves_without_a_key(fake_openai: FakeServer) -> None:
    from tunewise import ChatRequest, Message
    from tunewise_openai import OpenAIProvider

    async with OpenAIProvider(base_url=fake_openai.base_url) as provider:
        answer = await provider.chat(ChatRequest(model="gpt-4o-mini", messages=(Message.user("no key here"),)))
    assert answer.text == "You said: no key here" and fake_openai.stats()["completions_served"] == 1

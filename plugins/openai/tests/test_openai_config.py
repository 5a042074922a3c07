"""Reaching the provider the way users do: model refs, profiles, settings and options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import tunewise
from tunewise import ConfigError, MissingAPIKeyError, ProviderConfig, Registry, load_settings
from tunewise_openai import OpenAIProvider, plugin
from tunewise_openai.fake import FakeServer

from .conftest import SECRET

pytestmark = pytest.mark.anyio


async def test_a_profile_in_tunewise_toml_reaches_the_server(fake: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "tunewise.toml").write_text(
        f"""
[profiles.fakeai]
plugin = "openai"
base_url = "{fake.base_url}"
api_key = "{SECRET}"
options = {{ timeout = 5.0, max_retries = 2, max_concurrency = 4 }}
""",
        encoding="utf-8",
    )
    async with Registry() as registry:
        model = registry.model("fakeai:gpt-4o-mini")
        answer = await model.chat("hello from a profile")
        assert isinstance(model.provider, OpenAIProvider)
        assert model.provider.options.max_concurrency == 4 and model.provider.name == "fakeai"
    assert answer.text == "You said: hello from a profile"


def test_openai_without_a_key_is_a_one_line_error(isolated_settings: Path) -> None:
    config = load_settings().provider_config("openai")
    with pytest.raises(MissingAPIKeyError) as missing:
        plugin.create(config)
    assert str(missing.value) == (
        "openai: no API key configured; set OPENAI_API_KEY or set profiles.openai.api_key in tunewise.toml"
    )


async def test_local_servers_need_no_key(isolated_settings: Path) -> None:
    provider = plugin.create(load_settings().provider_config("ollama"))
    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "http://localhost:11434/v1" and provider.name == "ollama"
    assert provider._max_tokens_param == "max_tokens"
    await provider.aclose()


async def test_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    provider = plugin.create(load_settings().provider_config("openai"))
    assert isinstance(provider, OpenAIProvider) and provider._max_tokens_param == "max_completion_tokens"
    assert SECRET not in repr(provider)
    await provider.aclose()


def test_bad_options_are_one_line_config_errors(isolated_settings: Path) -> None:
    def config(**options: object) -> ProviderConfig:
        return ProviderConfig(
            name="vllm", plugin="openai", base_url="http://localhost:8000/v1", options=options, home=isolated_settings
        )

    with pytest.raises(ConfigError, match=r"^profiles\.vllm\.options\.timout: Extra inputs .* \(known options: "):
        plugin.create(config(timout=3))
    with pytest.raises(ConfigError, match=r"^profiles\.vllm\.options\.max_retries: Input should be greater"):
        plugin.create(config(max_retries=-1))
    with pytest.raises(ConfigError, match="needs the h2 package"):
        plugin.create(config(http2=True))


def test_adapters_are_refused_with_a_hint() -> None:
    from tunewise_openai._chat import chat_body

    request = tunewise.ChatRequest(model="llama3+/adapters/x", messages=(tunewise.Message.user("hi"),))
    with pytest.raises(ConfigError, match="serve adapters under their own model name"):
        chat_body(request, provider="vllm")


def test_importing_the_plugin_stays_light() -> None:
    code = (
        "import sys, json, tunewise_openai; tunewise_openai.plugin; "
        "print(json.dumps([m for m in ('httpx', 'httpx_sse', 'tenacity', 'starlette', 'uvicorn') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


async def test_server_model_list(provider_factory: object) -> None:
    async with provider_factory() as provider:  # type: ignore[operator]
        assert "gpt-4o-mini" in await provider.models()

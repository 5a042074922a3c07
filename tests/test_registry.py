import pytest

import tunewise
from tunewise import PluginNotFoundError, Registry, Settings


def test_listing_reads_metadata() -> None:
    names = {p.name: p for p in tunewise.providers()}
    assert {"openai", "local", "scripted"} <= set(names)
    assert names["openai"].distribution == "tunewise-openai"
    assert names["openai"].target == "tunewise_openai:plugin"
    assert names["scripted"].version == tunewise.__version__


def test_unknown_prefix_names_installed_plugins_and_package() -> None:
    with pytest.raises(PluginNotFoundError) as info:
        Registry().model("nosuch:model-x")
    message = str(info.value)
    assert "\n" not in message
    assert "'nosuch'" in message and "openai" in message and "local" in message
    assert "install" in message


def test_profile_with_missing_plugin() -> None:
    settings = Settings(profiles={"lab": {"plugin": "ghost", "base_url": "http://x"}})
    with pytest.raises(PluginNotFoundError, match="profile 'lab' uses plugin 'ghost'"):
        Registry(settings).provider("lab")


@pytest.mark.anyio
async def test_model_through_registry_and_profile_options() -> None:
    settings = Settings(profiles={"bot": {"plugin": "scripted", "options": {"replies": ["Hi there!"]}}})
    async with Registry(settings) as registry:
        answer = await registry.model("bot:any-model").chat("hello")
        assert answer.text == "Hi there!"
        assert registry.provider("bot") is registry.provider("bot")
        echo = await registry.model("scripted:echo").chat("ping me")
        assert echo.text == "ping me"
        assert echo.usage.prompt_tokens is not None and echo.usage.completion_tokens == 2


def test_module_level_model_helper() -> None:
    m = tunewise.model("scripted:echo")
    assert repr(m) == "<Model scripted:echo>"
    assert m.request("hi", temperature=0.5, extra_body={"logprobs": True}).extra == {"logprobs": True}

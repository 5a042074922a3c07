"""What the conformance suite cannot know about echo: its options and its key check."""

from typing import Any

import anyio
import pytest

import tunewise


def echo(**profile: Any) -> tunewise.Model:
    """``echo:parrot`` through a profile named ``echo``."""
    settings = tunewise.Settings(profiles={"echo": tunewise.ProfileConfig(plugin="echo", **profile)})
    return tunewise.Registry(settings).model("echo:parrot")


def test_options_come_from_the_profile() -> None:
    answer = anyio.run(echo(options={"shout": True}).chat, "hello, parrot")
    assert answer.text == "HELLO, PARROT"


def test_its_commands_run_under_tunewise_echo() -> None:
    from typer.testing import CliRunner

    from tunewise.cli import app

    result = CliRunner().invoke(app, ["echo", "models"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["chat   echo:parrot", "embed  echo:chars"]
    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0 and "The echo plugin's own commands." in listed.output


def test_an_unknown_option_is_a_one_line_config_error() -> None:
    with pytest.raises(tunewise.ConfigError) as caught:
        echo(options={"shuot": True})
    assert str(caught.value).startswith("profiles.echo.options.shuot: Extra inputs are not permitted")
    assert "known options: shout, latency" in str(caught.value)


def test_a_rejected_key_is_an_authentication_error_that_hides_the_key() -> None:
    model = echo(api_key="sk-not-an-echo-key-12345")
    with pytest.raises(tunewise.AuthenticationError) as caught:
        anyio.run(model.chat, "hi")
    assert caught.value.status == 401
    assert "sk-not-an-echo-key-12345" not in str(caught.value)


def test_the_stream_adds_up_to_the_chat_answer() -> None:
    model = echo()

    async def both() -> tuple[tunewise.ChatResponse, list[tunewise.ChatChunk]]:
        return await model.chat("stream me", max_tokens=6), [c async for c in model.stream("stream me", max_tokens=6)]

    answer, chunks = anyio.run(both)
    assert "".join(c.delta for c in chunks) == answer.text == "stream"
    assert chunks[-1].finish_reason == answer.finish_reason == "length"
    assert chunks[-1].usage == answer.usage

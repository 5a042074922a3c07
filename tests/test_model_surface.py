"""The library surface a user touches first: ``tunewise.model``, its options, closing, conversations, home.

Every bad input is one line, a ``TunewiseError`` subclass naming what to fix, and nothing is sent
or created because of it. Conversations are also checked with hypothesis: whatever is passed, the
answer is messages or a ``ConversationError``, never another exception.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import tunewise
from tunewise import (
    ConfigError,
    ConversationError,
    Message,
    Model,
    ModelRef,
    OptionError,
    Registry,
    Settings,
    TunewiseError,
    load_settings,
)
from tunewise._types import as_messages
from tunewise.testing import ScriptedProvider

SECRET = "sk-surface-9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, f"not one line: {text!r}"
    return text


# -- call options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "right"),
    [("temprature", "temperature"), ("max_token", "max_tokens"), ("topp", "top_p"), ("extra", "extra_body")],
)
@pytest.mark.anyio
async def test_a_misspelt_call_option_is_refused_with_the_right_spelling(typo: str, right: str) -> None:
    provider = ScriptedProvider()
    model = Model("scripted:echo", provider)
    with pytest.raises(OptionError) as info:
        await model.chat("hi", **{typo: 0})
    assert f"chat option {typo!r} is not known (did you mean {right!r}?)" in one_line(info.value)
    with pytest.raises(OptionError):
        model.stream("hi", **{typo: 0})
    with pytest.raises(OptionError):
        model.sync.chat("hi", **{typo: 0})
    assert provider.requests == [], "nothing may be sent with a misspelt option"
    model.sync.close()


@pytest.mark.anyio
async def test_vendor_fields_go_in_extra_body_and_reach_the_provider() -> None:
    provider = ScriptedProvider()
    model = Model("scripted:echo", provider)
    await model.chat("hi", temperature=0, stop="END", extra_body={"logprobs": True})
    [sent] = provider.requests
    assert sent.extra == {"logprobs": True}
    assert sent.stop == ("END",) and sent.temperature == 0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"temperature": 5}, "chat option temperature: Input should be less than or equal to 2"),
        ({"max_tokens": 0}, "chat option max_tokens: Input should be greater than 0"),
        ({"top_p": "high"}, "chat option top_p: Input should be a valid number"),
        ({"extra_body": ["logprobs"]}, "chat option extra_body: expected a dict of vendor fields, got list"),
        ({"extra_body": {1: True}}, "chat option extra_body: keys must be strings, got 1"),
        ({"seed": "x"}, "chat option seed: Input should be a valid integer"),
    ],
)
def test_out_of_range_call_options_are_one_line(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(OptionError) as info:
        Model("scripted:echo", ScriptedProvider()).request("hi", **options)
    assert one_line(info.value).startswith(expected)
    assert isinstance(info.value, ValueError), "as pydantic's errors for the same values were"


@pytest.mark.parametrize("output_type", [dict, str, int, "Ticket", object(), BaseModel.model_validate])
def test_output_type_must_be_a_pydantic_model(output_type: Any) -> None:
    model = Model("scripted:echo", ScriptedProvider())
    with pytest.raises(OptionError, match=r"^output_type: expected a pydantic BaseModel subclass, got "):
        model.request("hi", output_type=output_type)
    with pytest.raises(OptionError):
        model.sync.parse("hi", output_type)
    model.sync.close()


def test_strategy_configs_send_extra_as_extra_body() -> None:
    from tunewise.strategies import build_strategy

    strategy = build_strategy(
        {"type": "zero_shot", "model": "scripted:echo", "temperature": 0, "extra": {"logprobs": True}}
    )
    request = strategy.caller.request([Message.user("hi")])  # type: ignore[attr-defined]
    assert request.extra == {"logprobs": True}
    with pytest.raises(ConfigError, match=r"request option 'temprature' is not known \(did you mean 'temperature'"):
        tunewise.strategies.ZeroShot("scripted:echo", temprature=0)


# -- tunewise.model(ref, base_url=, api_key=, **options) ------------------------------------


@pytest.mark.parametrize(
    ("ref", "options", "expected"),
    [
        ("openai:gpt-4o-mini", {"timout": 3}, "openai option 'timout' is not known (did you mean 'timeout'?)"),
        ("openai:gpt-4o-mini", {"max_retry": 3}, "(did you mean 'max_retries'?)"),
        ("openai:gpt-4o-mini", {"timeout": -1}, "option timeout: Input should be greater than 0"),
        ("openai:gpt-4o-mini", {"max_retries": "many"}, "option max_retries: Input should be a valid integer"),
        ("local:/models/x", {"devise": "cpu"}, "local option 'devise' is not known (did you mean 'device'?)"),
        ("local:/models/x", {"max_batch_size": 0}, "option max_batch_size: must be >= 1; got 0"),
        ("local:/models/x", {"dtype": "fp4"}, "option dtype: expected one of auto, float32, bfloat16, float16"),
        ("scripted:echo", {"replys": ["hi"]}, "scripted option 'replys' is not known (did you mean 'replies'?)"),
        ("scripted:echo", {"latency": -1}, "latency: expected a number of seconds >= 0, got -1"),
    ],
)
def test_model_options_are_checked_against_the_plugin(ref: str, options: dict[str, Any], expected: str) -> None:
    with pytest.raises(OptionError) as info:
        tunewise.model(ref, api_key=SECRET, **options)
    text = one_line(info.value)
    assert text.startswith(f"tunewise.model({ref!r}): ")
    assert expected in text
    assert SECRET not in text and SECRET not in repr(info.value)
    assert "profiles." not in text, "options given in code are not a profile's"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"base_url": "ftp://files.example.com/v1"}, "base_url must be an http:// or https:// URL with a host"),
        ({"base_url": "localhost:8000/v1"}, "base_url must be an http:// or https:// URL"),
        ({"base_url": " http://x/v1"}, "base_url must be"),
        ({"base_url": 8000}, "got 8000"),
        ({"api_key": ""}, "api_key must be a non-empty string, got an empty string"),
        ({"api_key": 1234}, "api_key must be a non-empty string, got int"),
    ],
)
def test_base_url_and_api_key_are_checked(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(OptionError) as info:
        tunewise.model("openai:gpt-4o-mini", **kwargs)
    assert expected in one_line(info.value)


def test_a_private_provider_keeps_the_key_secret() -> None:
    fake = pytest.importorskip("tunewise_openai.fake")
    with fake.run_fake_openai(api_key=SECRET) as server:
        model = tunewise.model("openai:gpt-4o-mini", base_url=server.base_url, api_key=SECRET, timeout=5)
        assert model.sync.chat("hi").text
        assert SECRET not in repr(model) and SECRET not in repr(model.provider)
        wrong = tunewise.model("openai:gpt-4o-mini", base_url=server.base_url, api_key=SECRET[::-1], max_retries=0)
        with pytest.raises(tunewise.AuthenticationError) as info:
            wrong.sync.chat("hi")
        assert SECRET[::-1] not in str(info.value)
        model.sync.close()
        wrong.sync.close()


# -- closing and who owns the provider ---------------------------------------------------------


@pytest.mark.anyio
async def test_models_of_a_registry_share_a_provider_closed_with_the_last_one() -> None:
    settings = Settings(profiles={"bot": {"plugin": "scripted", "options": {"replies": ["a", "b", "c"]}}})
    async with Registry(settings) as registry:
        first, second = registry.model("bot:one"), registry.model("bot:two")
        provider = first.provider
        assert second.provider is provider
        await first.aclose()
        assert not provider.closed, "another model still holds the provider"  # type: ignore[attr-defined]
        assert (await second.chat("hi")).text == "a"
        async with second:
            pass
        assert provider.closed  # type: ignore[attr-defined]
        third = registry.model("bot:three")
        assert third.provider is not provider, "a closed provider is never handed out again"
        assert (await third.chat("hi")).text == "a"


@pytest.mark.anyio
async def test_a_provider_handed_out_by_the_registry_lives_until_the_registry_closes() -> None:
    registry = Registry(Settings())
    provider = registry.provider("scripted")
    model = registry.model("scripted:echo")
    await model.aclose()
    assert not provider.closed  # type: ignore[attr-defined]
    await registry.aclose()
    assert provider.closed  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_model_given_options_owns_its_provider() -> None:
    shared = tunewise.model("scripted:echo")
    async with tunewise.model("scripted:echo", replies=["scripted"]) as own:
        assert own.provider is not shared.provider
        assert (await own.chat("hi")).text == "scripted"
    assert own.closed and own.provider.closed  # type: ignore[attr-defined]
    assert not shared.provider.closed  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match=r"^model scripted:echo is closed; get a new one with tunewise.model"):
        await own.chat("hi")
    await own.aclose()  # idempotent


@pytest.mark.anyio
async def test_model_built_on_a_provider_leaves_it_to_its_maker_unless_told() -> None:
    provider = ScriptedProvider()
    await Model(ModelRef.parse("scripted:echo"), provider).aclose()
    assert not provider.closed
    await Model("scripted:echo", provider, owns_provider=True).aclose()
    assert provider.closed


def test_sync_close_closes_the_model_and_a_closed_model_refuses_sync_calls() -> None:
    model = tunewise.model("scripted:echo", replies=["x"])
    with model.sync as sync:
        assert sync.chat("hi").text == "x"
    assert model.closed and model.provider.closed  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="is closed"):
        model.sync.chat("hi")


def test_a_sync_facade_left_open_is_closed_at_exit(tmp_path: Path) -> None:
    """A script that never closes: the interpreter still exits, and the model's provider is closed."""
    script = tmp_path / "script.py"
    script.write_text(  # exit handlers run last-registered first: this check runs after tunewise's
        "import atexit, tunewise\n"
        "atexit.register(lambda: print('closed' if m.provider.closed else 'open'))\n"
        "m = tunewise.model('scripted:echo', replies=['bye'])\n"
        "print(m.sync.chat('hi').text)\n",
        encoding="utf-8",
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["bye", "closed"]


# -- conversations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conversation", "expected"),
    [
        (None, "conversation: expected a string or a list of messages"),
        ([], "conversation: a conversation needs at least one message, got none"),
        ((), "conversation: a conversation needs at least one message"),
        (42, "conversation: expected a string or a list of messages"),
        (b"hi", "got bytes"),
        ({"role": "user", "content": "hi"}, "got one message dict; wrap it in a list"),
        ([{"role": "bot", "content": "hi"}], "conversation[0].role: expected one of system, developer, user, "),
        (
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "bot", "content": "c"}],
            "conversation[2].role: expected one of system, developer, user, assistant, tool; got 'bot'",
        ),
        ([{"role": "user", "content": 5}], "conversation[0].content: input should be a valid string; got int 5"),
        ([{"role": "user"}], "conversation[0]: a user message needs content or tool_calls"),
        ([{"content": "hi"}], "conversation[0].role: missing"),
        ([{"role": "user", "contnet": "hi"}], "conversation[0].contnet: unknown field (did you mean 'content'?)"),
        (["hi"], "conversation[0]: expected a message"),
        ([None], "conversation[0]: expected a message"),
        ([{"role": "tool", "content": "42"}], "conversation[0]: a tool message needs tool_call_id"),
        ([{"role": "user", "content": "x", "weight": 2}], "conversation[0].weight: Input should be 0 or 1"),
    ],
)
@pytest.mark.anyio
async def test_every_bad_conversation_is_one_line(conversation: Any, expected: str) -> None:
    provider = ScriptedProvider()
    model = Model("scripted:echo", provider)
    with pytest.raises(ConversationError) as info:
        await model.chat(conversation)
    assert expected in one_line(info.value)
    assert one_line(info.value).startswith("conversation")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConversationError):
        model.sync.chat(conversation)
    with pytest.raises(ConversationError):
        model.stream(conversation)
    assert provider.requests == []
    model.sync.close()


def test_good_conversations_are_accepted_in_every_form() -> None:
    as_dicts = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    expected = (Message.system("Be brief."), Message.user("hi"))
    assert as_messages(as_dicts) == expected
    assert as_messages(tuple(as_dicts)) == expected
    assert as_messages(iter(expected)) == expected
    assert as_messages(Message.user("hi")) == (Message.user("hi"),)
    assert as_messages("hi") == (Message.user("hi"),)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
_message_like = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["system", "developer", "user", "assistant", "tool", "bot", ""]) | _json,
        "content": st.text(max_size=8) | _json,
        "name": st.text(max_size=4) | _json,
        "tool_call_id": st.text(max_size=4) | _json,
        "tool_calls": _json,
        "weight": st.sampled_from([0, 1, 2]) | _json,
    },
) | st.dictionaries(st.text(max_size=10), _json, max_size=3)
_conversations = (
    _json
    | st.lists(_message_like | _json, max_size=4)
    | st.tuples(_message_like)
    | st.builds(object)
    | st.binary(max_size=4)
    | st.sets(st.integers(), max_size=2)
)


@given(_conversations)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_conversation_is_messages_or_a_one_line_conversation_error(conversation: Any) -> None:
    try:
        messages = as_messages(conversation)
    except ConversationError as exc:
        one_line(exc)
        assert str(exc).startswith("conversation")
    else:
        assert messages and all(isinstance(m, Message) for m in messages)


@given(st.dictionaries(st.text(min_size=1, max_size=12), _json, min_size=1, max_size=3))
@settings(max_examples=200, deadline=None)
def test_any_call_option_is_sent_or_a_one_line_option_error(options: dict[str, Any]) -> None:
    model = Model("scripted:echo", ScriptedProvider())
    try:
        request = model.request("hi", **options)
    except OptionError as exc:
        one_line(exc)
    else:
        assert set(options) <= {"temperature", "top_p", "max_tokens", "stop", "seed", "tools", "extra_body"}
        assert request.messages == (Message.user("hi"),)


# -- TUNEWISE_HOME ----------------------------------------------------------------------------


def test_a_home_that_is_a_file_or_under_one_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("TUNEWISE_HOME", str(file))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert one_line(info.value) == f"TUNEWISE_HOME is '{file}', which is a file, not a folder"
    monkeypatch.setenv("TUNEWISE_HOME", str(file / "tunewise"))
    with pytest.raises(ConfigError, match=r"^TUNEWISE_HOME is '.*', but .*notes.txt is a file, not a folder$"):
        load_settings()
    monkeypatch.setenv("TUNEWISE_HOME", "  ")
    with pytest.raises(ConfigError, match=r"^TUNEWISE_HOME is empty; unset it or name a folder$"):
        load_settings()
    with pytest.raises(ConfigError, match=r"^settings field home is "):
        Settings(home=file)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
def test_an_unwritable_home_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        monkeypatch.setenv("TUNEWISE_HOME", str(locked / "tunewise"))
        with pytest.raises(ConfigError, match=r"^TUNEWISE_HOME is '.*', and .*locked is not writable by this user$"):
            load_settings()
    finally:
        locked.chmod(0o700)


def test_a_new_home_is_not_created_by_reading_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "typo" / "tunewise"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    assert load_settings().home == home
    assert not (tmp_path / "typo").exists()


def test_the_cli_reports_a_bad_home_in_one_line_with_status_2(tmp_path: Path) -> None:
    file = tmp_path / "home-is-a-file"
    file.write_text("", encoding="utf-8")
    cli = Path(sys.executable).parent / "tunewise"
    env = {**os.environ, "TUNEWISE_HOME": str(file)}
    result = subprocess.run(
        [str(cli), "eval", "runs"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: TUNEWISE_HOME is '{file}', which is a file, not a folder"
    assert "Traceback" not in result.stderr


def test_errors_are_tunewise_errors() -> None:
    assert issubclass(ConversationError, TunewiseError) and issubclass(OptionError, ConfigError)


def _embedders() -> list[Any]:
    from tunewise.retrieval import SentenceTransformerEmbedder
    from tunewise.testing import HashingEmbedder
    from tunewise_local import LocalProvider
    from tunewise_openai import OpenAIProvider

    return [
        HashingEmbedder(),
        SentenceTransformerEmbedder(),  # checked before its model loads
        LocalProvider().embedder("/does/not/exist"),  # checked before loading
        OpenAIProvider(base_url="http://127.0.0.1:9/v1").embedder("text-embedding-3-small"),  # before sending
    ]


@pytest.mark.parametrize("texts", ["one text", None, 3, [b"bytes"], ["fine", 2]])
def test_every_embedder_refuses_what_is_not_a_list_of_texts(texts: Any) -> None:
    import anyio

    from tunewise import DataError

    for embedder in _embedders():
        with pytest.raises(DataError, match=r"^texts(\[\d+\])?: embed\(\) takes "):
            anyio.run(embedder.embed, texts)


def test_the_default_models_follow_settings_changed_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook sets a profile (or a key) after its first call: the next `tunewise.model()` reads it."""
    fake = pytest.importorskip("tunewise_openai.fake")
    monkeypatch.chdir(tmp_path)
    with fake.run_fake_openai() as first, fake.run_fake_openai() as second:
        served, registries = [], []
        for server in (first, second, second):
            monkeypatch.setenv("TUNEWISE_PROFILES__OPENAI__BASE_URL", server.base_url)
            monkeypatch.setenv("OPENAI_API_KEY", SECRET)
            model = tunewise.model("openai:gpt-4o-mini")
            with model.sync as chat:
                assert chat.chat("hello").text == "You said: hello"
            served.append((first.stats()["completions_served"], second.stats()["completions_served"]))
            registries.append(tunewise._default_registry)
    assert served == [(1, 0), (1, 1), (1, 2)]
    # settings read again only when they changed: the last two calls share one registry
    assert registries[0] is not registries[1] and registries[1] is registries[2]

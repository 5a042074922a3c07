"""``tunewise.plugin``, the public plugin kit, and what plugins contribute through ``ProviderPlugin``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typer.testing import CliRunner

import tunewise
import tunewise.plugin
from tunewise.cli import app
from tunewise.cli._app import command


def test_every_kit_name_resolves_and_the_main_ones_are_tunewise_own() -> None:
    for name in tunewise.plugin.__all__:
        assert getattr(tunewise.plugin, name) is not None, name
    assert tunewise.plugin.ProviderPlugin is tunewise.ProviderPlugin
    assert tunewise.plugin.BaseProvider is tunewise.BaseProvider
    assert set(tunewise.plugin.__all__) == set(dir(tunewise.plugin))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tunewise.plugin.nothing  # noqa: B018


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shout: bool = False
    retry: dict[str, int] = Field(default_factory=dict)
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _ordered(self) -> _Options:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


def _error(values: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        _Options.model_validate(values)
    return caught.value


@pytest.mark.parametrize(
    ("values", "known", "expected"),
    [
        (
            {"shuot": True},
            ["shout", "retry"],
            "profiles.x.options.shuot: Extra inputs are not permitted (known options: shout, retry)",
        ),
        ({"shuot": True}, None, "profiles.x.options.shuot: Extra inputs are not permitted"),
        (
            {"shout": "loud"},
            ["shout"],
            "profiles.x.options.shout: Input should be a valid boolean, unable to interpret input",
        ),
        (
            {"retry": {"times": "x"}},
            None,
            "profiles.x.options.retry.times: Input should be a valid integer, unable to parse string as an integer",
        ),
        ({"low": 3, "high": 1}, ["low"], "profiles.x.options: low must not exceed high"),
    ],
)
def test_config_error_is_one_line_naming_the_field(values: dict[str, Any], known: Any, expected: str) -> None:
    error = tunewise.plugin.config_error(_error(values), "profiles.x.options", known=known)
    assert isinstance(error, tunewise.ConfigError)
    assert str(error) == expected and "\n" not in str(error)


def test_a_misspelt_required_field_is_named_as_the_misspelling_and_list_positions_in_brackets() -> None:
    from pydantic import BaseModel, ConfigDict

    class Item(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        items: list[Item]

    with pytest.raises(ValidationError) as caught:
        Config.model_validate({"items": [{"name": "a"}, {"nmae": "b"}]})
    # pydantic reports items.1.name missing first; the misspelling is what to fix
    assert str(tunewise.plugin.config_error(caught.value, "f.toml")) == (
        "f.toml.items[1].nmae: Extra inputs are not permitted"
    )


def test_the_openai_profiles_come_from_the_openai_plugin() -> None:
    from tunewise._settings import builtin_profiles

    contributed = tunewise.load_plugin("openai").profiles
    assert contributed["openai"] == {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}
    builtin = builtin_profiles()
    for name, fields in contributed.items():
        assert builtin[name] == tunewise.ProfileConfig(plugin="openai", **fields)
    builtin["openai"].options["timeout"] = 1  # a copy: changing it changes no later settings
    assert builtin_profiles()["openai"].options == {}


def test_capabilities_are_declared_once_per_first_party_plugin() -> None:
    from tunewise_local import LocalProvider
    from tunewise_openai import OpenAIProvider

    assert tunewise.load_plugin("openai").capabilities is OpenAIProvider.capabilities
    assert tunewise.load_plugin("local").capabilities is LocalProvider.capabilities


def test_plugin_commands_are_found_by_the_plugin_name_and_only_there() -> None:
    root = command()
    group = root.commands["local"]
    assert group.name == "local" and "tiny" in group.commands
    assert root.commands.get("local") is group  # built once
    assert root.commands.get("openai") is None  # a plugin without commands
    assert root.commands.get("nosuch") is None
    assert list(root.commands)[-1] == "local" and "eval" in root.commands  # built-ins first
    result = CliRunner().invoke(app, ["openai"])
    assert result.exit_code == 2 and "No such command 'openai'" in result.output


def test_load_plugins_loads_every_installed_plugin_once() -> None:
    from tunewise._registry import load_plugins

    loaded = load_plugins()
    assert sorted(loaded) == sorted(info.name for info in tunewise.providers())
    assert {"openai", "local", "scripted"} <= set(loaded)
    for name, plugin in loaded.items():
        assert plugin is tunewise.load_plugin(name), name

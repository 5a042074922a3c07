"""What plugins contribute through ``ProviderPlugin`` (commands, profiles), with plugins installed for real.

Each plugin here is a module plus a ``*.dist-info`` folder with its entry point, on a
``PYTHONPATH`` of its own: what ``pip install`` leaves behind, read through
``importlib.metadata`` by a fresh ``tunewise`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PLUGINS = {
    # a plugin with a command and a profile of its own
    "extra": '''
from tunewise.plugin import ProviderPlugin

def _create(config):
    raise NotImplementedError

def _commands():
    import typer

    app = typer.Typer(help="Extra's own commands.")

    @app.command("hello")
    def hello(name: str) -> None:
        """Say hello."""
        typer.echo(f"hello {name}")

    return app

plugin = ProviderPlugin(
    create=_create, profiles={"extra-lab": {"base_url": "http://lab:1/v1"}}, commands=_commands
)
''',
    # fails to import
    "broken": "raise RuntimeError('broken on purpose')\n",
    # its commands hook returns something else than a typer app
    "wrong": """
from tunewise.plugin import ProviderPlugin

plugin = ProviderPlugin(create=lambda config: None, commands=lambda: "not an app")
""",
    # a plugin named like a built-in command: the built-in wins
    "eval": """
from tunewise.plugin import ProviderPlugin

plugin = ProviderPlugin(create=lambda config: None, commands=lambda: 1 / 0)
""",
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    site = tmp_path_factory.mktemp("site")
    for name, source in PLUGINS.items():
        module = f"tunewise_hooktest_{name}"
        (site / f"{module}.py").write_text(source, encoding="utf-8")
        info = site / f"tunewise_hooktest_{name}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tunewise-hooktest-{name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[tunewise.providers]\n{name} = {module}:plugin\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


def tunewise(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = "from tunewise.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)


def test_a_plugins_commands_run_under_its_name(env: dict[str, str]) -> None:
    result = tunewise(env, "extra", "hello", "world")
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello world\n", "")


def test_help_lists_working_plugins_and_survives_broken_ones(env: dict[str, str]) -> None:
    result = tunewise(env, "--help")
    assert result.returncode == 0, result.stderr
    assert "Extra's own commands." in result.stdout and "local" in result.stdout
    assert "broken" not in result.stdout and "wrong" not in result.stdout
    assert result.stdout.count(" eval ") == 1  # the built-in, not the plugin of the same name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["broken", "x"],
            "error: plugin 'broken' (tunewise_hooktest_broken:plugin) failed to import: "
            "RuntimeError: broken on purpose",
        ),
        (["wrong"], "error: plugin 'wrong': commands() must return a typer.Typer, got str"),
    ],
)
def test_a_broken_plugin_says_what_is_wrong_when_its_commands_are_asked_for(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = tunewise(env, *args)
    assert result.returncode == 2 and result.stderr.strip() == message


def test_the_built_in_command_wins_over_a_plugin_of_the_same_name(env: dict[str, str]) -> None:
    result = tunewise(env, "eval", "--help")
    assert result.returncode == 0 and "ZeroDivisionError" not in result.stderr


def test_a_plugins_profiles_are_built_in_and_broken_plugins_contribute_none(env: dict[str, str]) -> None:
    code = (
        "import json, tunewise\n"
        "settings = tunewise.load_settings()\n"
        "lab = settings.provider_config('extra-lab')\n"
        "print(json.dumps([lab.plugin, lab.base_url, settings.provider_config('openai').api_key_env]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == ["extra", "http://lab:1/v1", "OPENAI_API_KEY"]

"""``import tunewise`` and plugin listing must not load heavy libraries or plugins.

A correctness check, not a timing: the timing lives in bench/import_time.py.
"""

import json
import subprocess
import sys

HEAVY = ["torch", "transformers", "chromadb", "sentence_transformers", "tunewise_openai", "tunewise_local", "httpx"]


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return list(json.loads(out.strip().splitlines()[-1]))


def test_import_and_listing_load_nothing_heavy() -> None:
    assert _loaded_after("import tunewise; tunewise.providers()") == []


def test_import_does_not_even_load_pydantic() -> None:
    code = "import tunewise, sys; tunewise.providers(); print(json.dumps('pydantic' in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) is False


def test_cli_listing_imports_plugin_modules_but_nothing_heavy() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from tunewise.cli import app\n"
        "result = CliRunner().invoke(app, ['providers', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
    )
    loaded = _loaded_after(code)
    assert "torch" not in loaded and "transformers" not in loaded and "chromadb" not in loaded
    assert "sentence_transformers" not in loaded


def test_the_plugin_kit_is_as_light_as_tunewise() -> None:
    code = "import tunewise.plugin, sys; print(json.dumps([m for m in ('pydantic', 'typer') if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], check=True, capture_output=True, text=True
    ).stdout
    assert json.loads(out) == []
    assert _loaded_after("import tunewise.plugin") == []


def test_cli_help_lists_plugin_commands_but_loads_nothing_heavy() -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from tunewise.cli import app\n"
        "for args in (['--help'], ['local', '--help']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0, result.output\n"
        "    assert 'build a tiny model' in result.output, result.output\n"
    )
    loaded = _loaded_after(code)
    assert not {"torch", "transformers", "chromadb", "sentence_transformers", "httpx"} & set(loaded), loaded
    assert "tunewise_local" in loaded  # its commands come from the plugin, through ProviderPlugin.commands

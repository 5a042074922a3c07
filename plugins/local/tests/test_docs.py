"""Every code block of docs/local.md runs, in order, in an empty directory."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

DOC = Path(__file__).resolve().parents[3] / "docs" / "local.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(kind: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


def test_every_block_is_checked() -> None:
    kinds = {lang for lang, _ in BLOCK.findall(DOC.read_text(encoding="utf-8"))}
    assert kinds <= {"python", "toml", "bash"}, kinds


def test_toml_profiles_are_valid() -> None:
    from tunewise import load_settings
    from tunewise_local import LocalOptions

    for code in blocks("toml"):
        settings = load_settings(**tomllib.loads(code))
        for profile in settings.profiles.values():
            assert profile.plugin == "local"
            LocalOptions.parse(profile.options)


@pytest.mark.slow
def test_python_and_shell_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunewise
    from tunewise.cli import app

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_local"}
    try:
        for code in blocks("python"):
            exec(compile(code, str(DOC), "exec"), namespace)
    finally:
        registry = tunewise._default_registry
        if registry is not None:
            import anyio

            anyio.run(registry.aclose)
            tunewise._default_registry = None
    assert (tmp_path / "tiny-merged" / "model.safetensors").is_file()
    runner = CliRunner()
    for code in blocks("bash"):
        for line in code.splitlines():
            args = shlex.split(line)
            assert args[0] == "tunewise"
            result = runner.invoke(app, args[1:])
            assert result.exit_code == 0, (line, result.output, result.exception)

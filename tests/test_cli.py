import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tunewise

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"tunewise {tunewise.__version__}"


def test_providers_json_lists_plugins_capabilities_and_profiles() -> None:
    result = run("providers", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["openai"]["distribution"] == "tunewise-openai"
    assert "fine_tune" in plugins["openai"]["capabilities"]
    assert "chat" in plugins["local"]["capabilities"]
    assert data["profiles"]["ollama"] == {"plugin": "openai", "base_url": "http://localhost:11434/v1"}


def test_providers_table() -> None:
    result = run("providers")
    assert result.returncode == 0
    assert "Provider plugins" in result.stdout and "tunewise-local" in result.stdout


def test_config_errors_are_one_line_on_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNEWISE_CONFIG", str(tmp_path / "missing.toml"))
    result = run("providers")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: TUNEWISE_CONFIG points to")

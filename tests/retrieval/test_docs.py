"""Every code block in docs/retrieval.md runs (Python in-process, shell via bash).

The shell block also covers the CLI with the default MiniLM embedder, remembered by the
collection between commands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import DATA

DOC = Path(__file__).resolve().parents[2] / "docs" / "retrieval.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text()) if lang == language]


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(DATA / "docs", tmp_path / "kb")
    shutil.copy(DATA / "queries.jsonl", tmp_path / "queries.jsonl")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_python_and_shell_examples_run(workspace: Path, minilm: object, capsys: pytest.CaptureFixture[str]) -> None:
    python = blocks("python")
    assert len(python) >= 4
    for number, code in enumerate(python, start=1):
        exec(compile(code, f"{DOC.name} python block {number}", "exec"), {"__name__": f"doc_block_{number}"})
    out = capsys.readouterr().out
    assert "45 45 45" in out  # files, chunks, embedded of the first example
    assert re.search(r"hybrid  nDCG@10=0\.9\d\d recall@10=0\.9\d\d", out)

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200"}
    for code in blocks("bash"):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", code], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert "error-e47.md" in result.stdout and '"in_sync": true' in result.stdout
        assert '"embedder": "sentence-transformers:all-MiniLM-L6-v2"' in result.stdout

"""Every code block of docs/data.md runs: python blocks in order, the JSON example validates, console commands work."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tunewise.data import check_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def test_every_block_is_covered() -> None:
    assert {lang for lang, _ in BLOCK.findall(DOC.read_text(encoding="utf-8"))} == {"json", "python", "console"}


def test_json_example_is_valid() -> None:
    (example,) = blocks("json")
    assert check_example(json.loads(example)) == []


@pytest.mark.slow
def test_python_then_console_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for body in blocks("python"):
        exec(compile(body, str(DOC), "exec"), namespace)
    report = namespace["report"]
    assert [str(p) for p in report.problems] == [  # type: ignore[attr-defined]
        "faq.csv:3: answer: missing or empty completion [missing_content]"
    ]
    assert namespace["leaks"].ok  # type: ignore[attr-defined]
    for block in blocks("console"):
        for line in block.splitlines():
            if line.startswith("$ .venv/bin/python bench/"):
                assert (DOC.parents[1] / line.split()[2]).is_file()  # the benchmark exists; it is run by hand
                continue
            assert line.startswith("$ tunewise data ")
            args = shlex.split(line[2:])
            result = subprocess.run([CLI, *args[1:]], capture_output=True, text=True, timeout=120)
            assert result.returncode in (0, 1), f"{line}\n{result.stderr}"
            assert "Traceback" not in result.stderr

"""Every code block of docs/evaluation.md and docs/strategies.md runs, in order, as a reader would run it.

``python`` blocks run in one namespace per page; blocks with a ``title="FILE"`` are written
to that file first; ``bash`` lines run as commands in the same folder.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(?P<lang>\w+)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```$", re.S | re.M)


def blocks(page: str) -> list[tuple[str, str | None, str]]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', match.group("attrs"))
        out.append((match.group("lang"), title.group(1) if title else None, match.group("body")))
    return out


def run_page(page: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.chdir(folder)
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    executed = 0
    bin_dir = Path(sys.executable).parent
    for lang, title, body in blocks(page):
        if title is not None:
            (folder / title).write_text(body, encoding="utf-8")
        elif lang == "python":
            exec(compile(body, f"docs/{page}", "exec"), namespace)
        elif lang == "bash":
            for line in body.strip().splitlines():
                argv = shlex.split(line)
                if argv[0] == ".venv/bin/python":  # benchmarks: the same command, shortened
                    argv = [sys.executable, str(ROOT / argv[1]), *argv[2:], "--cases", "64", "--rounds", "1"]
                else:
                    argv[0] = str(bin_dir / argv[0])
                result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
                assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        else:
            raise AssertionError(f"docs/{page}: a {lang} block that no test runs; give it a title or drop it")
        executed += 1
    return executed


@pytest.mark.slow
def test_evaluation_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_page("evaluation.md", tmp_path, monkeypatch) >= 6
    assert (tmp_path / "reports" / "doubling.html").is_file()
    assert (tmp_path / "reports" / "first.md").is_file()


def test_strategies_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_page("strategies.md", tmp_path, monkeypatch) >= 6

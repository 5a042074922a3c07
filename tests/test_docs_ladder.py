"""Every code block of docs/ladder.md runs, in order, as a reader would run it (titled blocks are written to
their file first; ``bash`` lines run as commands)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(?P<lang>\w+)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```$", re.S | re.M)


@pytest.mark.slow
def test_ladder_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_ladder"}
    text = (ROOT / "docs" / "ladder.md").read_text(encoding="utf-8")
    executed = 0
    for match in FENCE.finditer(text):
        lang, body = match.group("lang"), match.group("body")
        title = re.search(r'title="([^"]+)"', match.group("attrs"))
        if title is not None:
            (tmp_path / title.group(1)).write_text(body, encoding="utf-8")
        elif lang == "python":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(body, "docs/ladder.md", "exec"), namespace)
        elif lang == "bash":
            for line in body.strip().splitlines():
                argv = shlex.split(line)
                argv[0] = str(Path(sys.executable).parent / argv[0])
                result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
                assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        elif lang == "text":  # printed output shown on the page, not code
            continue
        else:
            raise AssertionError(f"docs/ladder.md: a {lang} block that no test runs")
        executed += 1
    assert executed == 4
    assert "no rung reached the target" in (tmp_path / "ladder-out" / "report.md").read_text()
    assert (tmp_path / "python-out" / "report.html").is_file()

"""Every code block of docs/serve.md and docs/chat.md runs, in order, as a reader would run it.

Blocks with ``title="FILE"`` are written to that file; ``python`` blocks run in one namespace
per page; ``bash`` blocks run in bash with the venv's commands first on PATH, except
``tunewise serve``, which starts in the background on a free port (``--port 0``): later blocks
get that port in place of 8000. A ``text`` block is the output of the ``bash`` block before it,
compared line by line.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(?P<lang>\w*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```$", re.S | re.M)
DOC_URL = "http://127.0.0.1:8000"


def blocks(page: str) -> list[tuple[str, str | None, str]]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        title = re.search(r'title="([^"]+)"', match.group("attrs"))
        out.append((match.group("lang"), title.group(1) if title else None, match.group("body")))
    return out


class Page:
    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.monkeypatch = monkeypatch
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        self.url = DOC_URL
        self.servers: list[subprocess.Popen[str]] = []
        self.last_output = ""

    def serve(self, line: str) -> None:
        process = subprocess.Popen(
            [*line.split(), "--port", "0"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.servers.append(process)
        ready = threading.Event()
        log: list[str] = []

        def read() -> None:
            assert process.stdout is not None
            for text in process.stdout:
                log.append(text)
                found = re.search(r"Uvicorn running on (http://\S+)", text)
                if found:
                    self.url = found.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(60) and self.url != DOC_URL, "".join(log)

    def bash(self, body: str) -> None:
        script = []
        for line in body.strip().splitlines():
            if line.startswith("tunewise serve "):
                self.serve(line)
                continue
            exported = re.match(r"export (\w+)=(\S+)$", line)
            if exported:
                self.env[exported.group(1)] = exported.group(2)
                self.monkeypatch.setenv(exported.group(1), exported.group(2))
                continue
            script.append(line.replace(DOC_URL, self.url))
        if script:
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", "\n".join(script)],
                cwd=self.folder,
                env={**self.env, "TUNEWISE_CONFIG": str(self.folder / "tunewise.toml")},
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 0, f"{body}\n{result.stdout}\n{result.stderr}"
            self.last_output = result.stdout

    def stop(self) -> None:
        for process in self.servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0


def run_page(page: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Page:
    monkeypatch.chdir(folder)
    (folder / "tunewise.toml").touch()
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    runner = Page(folder, monkeypatch)
    try:
        for lang, title, body in blocks(page):
            if title is not None:
                (folder / title).write_text(body, encoding="utf-8")
            elif lang == "python":
                exec(compile(body.replace(DOC_URL, runner.url), f"docs/{page}", "exec"), namespace)
            elif lang == "bash":
                runner.bash(body)
            elif lang == "text":
                assert runner.last_output.splitlines() == body.splitlines()
            else:
                raise AssertionError(f"docs/{page}: a {lang or 'plain'} block that no test runs")
    finally:
        runner.stop()
    return runner


@pytest.mark.slow
def test_serve_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    runner = run_page("serve.md", tmp_path, monkeypatch)
    assert runner.url != DOC_URL  # the server of the page really ran
    assert '"object":"chat.completion"' in runner.last_output  # the curl call
    out = capsys.readouterr().out
    assert "['billing-refund-policy.md'" in out and "hand-off: False" in out
    assert "46 articles" in out
    assert "Can I get a refund on my annual plan? -> ['billing-refund-policy.md'" in out
    assert "What is the capital of Peru? -> hand-off" in out


def test_chat_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kb.jsonl").write_text(blocks_by_title("serve.md")["kb.jsonl"], encoding="utf-8")
    (tmp_path / "support.toml").write_text(blocks_by_title("serve.md")["support.toml"], encoding="utf-8")
    runner = run_page("chat.md", tmp_path, monkeypatch)
    out = runner.last_output
    assert "handed off: a person should answer this one" in out
    assert "tokens: 0 in, 0 out · cost: $0 (no model call)" in out
    assert "billing-refund-policy.md" in out and "(cited)" in out


def blocks_by_title(page: str) -> dict[str, str]:
    return {title: body for _, title, body in blocks(page) if title is not None}

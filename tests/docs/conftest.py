"""The docs harness: every fenced code block in ``docs/`` and ``README.md`` runs, in order, as a reader would run it.

One page runs in one empty folder (with ``examples/`` and ``bench/`` linked in from the repository), top to
bottom:

- a block with ``title="FILE"`` is written to ``FILE`` first (a config, a dataset) and later blocks use it;
- ``python`` blocks run in one namespace per page; what they print is kept as their output;
- ``console`` blocks are ``$ command`` lines, each followed by (some of) its output: the commands run in order,
  a failing one does not stop the next (``$ echo $?`` shows its status), and the shown output must appear;
- ``bash`` blocks run in ``bash -euo pipefail`` with this environment's commands first on ``PATH``
  (``.venv/bin/`` means this environment too). ``export NAME=VALUE`` lines set the variable for the rest of the
  page; a ``tunewise serve`` line starts the server in the background on a free port, and later blocks get that
  port in place of the ``http://127.0.0.1:8000`` the page shows. ``make TARGET`` lines are checked with
  ``make -n`` (the real targets are what CI runs: ``.ci/run`` is ``make test``);
- ``toml``, ``json`` and ``jsonl`` blocks without a title must parse; page tests check more;
- ``text`` blocks (output) and blocks without a language (diagrams) are never run; a page can ask for each
  ``text`` block to be compared with the output of the block before it;
- a block whose first line is a comment saying ``needs network`` is only checked for syntax (``compile`` for
  Python, ``bash -n`` for shell); a page can run its network Python blocks against the fake OpenAI server;
- a block that is a pymdownx.snippets include (``--8<-- "examples/..."``) shows a file of the repository as it is;
  the file is tested where it lives (an example's own tests), so here it is only parsed or compiled.

Any other block fails the test: write it so it runs, or mark it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOC_URL = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')
NETWORK = re.compile(r"^\s*#.*\bneeds? (?:the )?network\b", re.I)
OUTPUT_LANGS = {"", "text"}
DATA_LANGS = {"toml", "json", "jsonl"}


def pages() -> list[str]:
    """Every page with code blocks: README.md and docs/**/*.md, relative to the repository."""
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [str(p.relative_to(ROOT)) for p in found if FENCE.search(p.read_text(encoding="utf-8"))]


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str
    line: int
    lang: str
    title: str | None
    body: str
    included: str | None = None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def needs_network(self) -> bool:
        first = next((line for line in self.body.splitlines() if line.strip()), "")
        return bool(NETWORK.match(first))


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``page`` (``README.md`` or ``docs/x.md``), snippet includes expanded."""
    text = (ROOT / page).read_text(encoding="utf-8")
    out = []
    for match in FENCE.finditer(text):
        body = match.group("body")
        includes = [SNIPPET.match(line.strip()) for line in body.strip().splitlines()]
        included = None
        if includes and all(includes):
            included = ", ".join(m.group(1) for m in includes if m)
            body = "".join((ROOT / m.group(1)).read_text(encoding="utf-8") for m in includes if m)
        title = re.search(r'title="([^"]+)"', match.group("attrs"))
        out.append(
            Block(
                page=page,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match.group("lang"),
                title=title.group(1) if title else None,
                body=body,
                included=included,
            )
        )
    return out


class _Tee(io.StringIO):
    """Keeps what a Python block prints and still passes it on (so ``capsys`` sees it)."""

    def __init__(self, through: Any) -> None:
        super().__init__()
        self.through = through

    def write(self, text: str) -> int:
        self.through.write(text)
        return super().write(text)


@dataclass
class PageRun:
    """One page run in one folder; its namespace, outputs and servers are there for the page's own checks."""

    page: str
    folder: Path
    monkeypatch: pytest.MonkeyPatch
    replace: dict[str, str] = field(default_factory=dict)
    compare_output: bool = False
    network_env: dict[str, str] | None = None  # set: network Python blocks run with these variables (the fake OpenAI)
    env: dict[str, str] = field(default_factory=dict)  # for the page's commands
    timeout: float = 300
    namespace: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[Block, str]] = field(default_factory=list)
    url: str = DOC_URL
    executed: int = 0
    checked_only: list[Block] = field(default_factory=list)
    _servers: list[subprocess.Popen[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "200", **self.env}
        self.namespace["__name__"] = "docs_" + re.sub(r"\W", "_", self.page)

    @property
    def output(self) -> str:
        """The output of the last block that ran."""
        return self.outputs[-1][1] if self.outputs else ""

    def _text(self, body: str) -> str:
        for old, new in self.replace.items():
            body = body.replace(old, new)
        return body.replace(".venv/bin/", f"{BIN}/").replace(DOC_URL, self.url)

    def run(self) -> PageRun:
        for block in blocks(self.page):
            self.run_block(block)
        return self

    def run_block(self, block: Block) -> None:
        if block.title is not None:
            (self.folder / block.title).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / block.title).write_text(block.body, encoding="utf-8")
        elif block.lang in OUTPUT_LANGS:
            if self.compare_output and self.outputs and block.lang == "text":
                assert_output_matches(block, self.output)
            return
        elif block.included is not None:
            self._check_syntax(block)
            self.checked_only.append(block)
            return
        elif block.lang in DATA_LANGS:
            parse_data(block)
        elif block.needs_network and (self.network_env is None or block.lang != "python"):
            self._check_syntax(block)
            self.checked_only.append(block)
            return
        elif block.lang == "python":
            self._python(block)
        elif block.lang in ("bash", "console"):
            self._bash(block)
        else:
            raise AssertionError(f"{block.where}: a {block.lang} block that no test runs; run it or mark it")
        self.executed += 1

    def _check_syntax(self, block: Block) -> None:
        if block.lang in DATA_LANGS:
            parse_data(block)
        elif block.lang == "python":
            compile(block.body, block.where, "exec")
        elif block.lang in ("bash", "console"):
            result = subprocess.run(["bash", "-n", "-c", block.body], capture_output=True, text=True)
            assert result.returncode == 0, f"{block.where}: {result.stderr}"
        else:
            raise AssertionError(f"{block.where}: cannot check a {block.lang} block")

    def _python(self, block: Block) -> None:
        env = self.network_env if block.needs_network and self.network_env else {}
        with self.monkeypatch.context() as patch:  # the variables hold for this block only
            for name, value in env.items():
                patch.setenv(name, value)
            tee = _Tee(sys.stdout)
            with contextlib.redirect_stdout(tee):
                exec(compile(self._text(block.body), block.where, "exec"), self.namespace)
        self.outputs.append((block, tee.getvalue()))

    def _bash(self, block: Block) -> None:
        if block.lang == "console":
            self._console(block)
            return
        script = []
        for line in block.body.strip().splitlines():
            if line.startswith("tunewise serve "):
                self._serve(self._text(line))
            elif exported := re.match(r"export (\w+)=(\S+)$", line):
                self.env[exported.group(1)] = exported.group(2)
                self.monkeypatch.setenv(exported.group(1), exported.group(2))
            elif line.startswith("make "):
                target = shlex.split(line.split("#", 1)[0])[1]
                dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
                assert dry.returncode == 0, f"{block.where}: make {target}: {dry.stderr}"
            else:
                script.append(self._text(line))
        self.outputs.append((block, self._shell(block, "\n".join(script), "-euo") if script else ""))

    def _console(self, block: Block) -> None:
        """``$ command`` lines run in order (a failing one does not stop the rest); the other lines are their output."""
        lines = block.body.strip().splitlines()
        output = self._shell(block, "\n".join(self._text(line[2:]) for line in lines if line.startswith("$ ")), "-uo")
        expected = "\n".join(line for line in lines if not line.startswith("$ "))
        assert_output_matches(Block(block.page, block.line, "text", None, expected), output)
        self.outputs.append((block, output))

    def _shell(self, block: Block, script: str, flags: str) -> str:
        """Run ``script`` in bash with ``flags`` (``-euo`` stops at the first failure) and ``pipefail``; its stdout."""
        result = subprocess.run(
            ["bash", flags, "pipefail", "-c", script],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        assert result.returncode == 0, f"{block.where}\n{block.body}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def _serve(self, line: str) -> None:
        process = subprocess.Popen(
            [*shlex.split(line), "--port", "0"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._servers.append(process)
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

    def close(self) -> None:
        """Stop the page's servers (each must exit cleanly) and close the default registry it used."""
        import anyio

        import tunewise

        for process in self._servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0, f"{self.page}: tunewise serve exited badly"
        registry, tunewise._default_registry = tunewise._default_registry, None
        if registry is not None:
            try:
                anyio.run(registry.aclose)
            except RuntimeError as exc:  # an HTTP client whose page's event loop has ended: nothing left to close
                if "Event loop is closed" not in str(exc):
                    raise


def parse_data(block: Block) -> Any:
    """A ``toml``/``json``/``jsonl`` block, parsed; a syntax error names the page and line."""
    try:
        if block.lang == "toml":
            return tomllib.loads(block.body)
        if block.lang == "json":
            return json.loads(block.body)
        return [json.loads(line) for line in block.body.splitlines() if line.strip()]
    except ValueError as exc:
        raise AssertionError(f"{block.where}: {exc}") from exc


def assert_output_matches(block: Block, output: str) -> None:
    """Each line of ``block`` appears, in order, among the output's lines; ``...`` stands for any lines."""
    got = [line.rstrip() for line in output.splitlines()]
    position = 0
    for want in (line.rstrip() for line in block.body.splitlines()):
        if want in ("...", ""):
            continue
        try:
            position = got.index(want, position) + 1
        except ValueError:
            raise AssertionError(f"{block.where}: {want!r} is not in the output:\n{output}") from None


@pytest.fixture
def run_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., PageRun]]:
    """``run_page("docs/x.md", **options)``: the page, run in ``tmp_path``; its servers stop afterwards."""
    runs: list[PageRun] = []

    def run(page: str, **options: Any) -> PageRun:
        monkeypatch.chdir(tmp_path)
        for name in ("examples", "bench"):
            if not (tmp_path / name).exists():
                (tmp_path / name).symlink_to(ROOT / name)
        runner = PageRun(page, tmp_path, monkeypatch, **options)
        runs.append(runner)
        return runner.run()

    try:
        yield run
    finally:
        for runner in runs:
            runner.close()

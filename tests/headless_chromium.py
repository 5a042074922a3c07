"""Open a report in headless Chromium (Debian's ``chromium`` package) and check it as a reader would see it.

``check_page`` drives the browser over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port,
no extra package): it loads the page at a 1280-pixel-wide viewport, opens every ``<details>``, and returns
the console errors, uncaught exceptions and failed loads the page caused, plus every image that did not
load or has no size or no alt text, and every table cell whose text overflows it or that runs past the
viewport. ``screenshot`` runs ``chromium --headless --screenshot``.

Used by tests/test_report_browser.py, and as a script by ``make screenshot``::

    python tests/headless_chromium.py REPORT.html OUT.png [--height 2000]
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH = 1280
"""The viewport width checked: a laptop screen at 100% zoom."""
HEIGHT = 900
TIMEOUT = 60.0
"""Seconds to wait for one answer from the browser before giving up (a hung browser, not a slow page)."""
INSTALL_HINT = "chromium not installed: apt-get install chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI containers run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)

# Runs in the page after load. Everything it returns is plain JSON.
CHECKS = r"""
(async () => {
  for (const d of document.querySelectorAll("details")) d.open = true;
  await document.fonts.ready;
  await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
  const width = document.documentElement.clientWidth;
  const problems = [];
  const name = (el) => {
    const text = (el.getAttribute("alt") || el.getAttribute("aria-label") || el.textContent || "").trim();
    const src = el.getAttribute && el.getAttribute("src");
    const label = text || (src ? src.slice(0, 40) : el.tagName.toLowerCase());
    return JSON.stringify(label.replace(/\s+/g, " ").slice(0, 80));
  };
  const images = [...document.images];
  for (const img of images) {
    const box = img.getBoundingClientRect();
    if (!img.complete || img.naturalWidth === 0 || img.naturalHeight === 0) {
      problems.push(`image ${name(img)} did not load`);
    } else if (box.width < 1 || box.height < 1) {
      problems.push(`image ${name(img)} has no size on the page (${box.width}x${box.height})`);
    }
    if (!(img.getAttribute("alt") || "").trim()) problems.push(`image ${name(img)} has no alt text`);
    if (box.right > width + 1) problems.push(`image ${name(img)} runs past the viewport (${Math.round(box.right)}px)`);
  }
  const svgs = [...document.querySelectorAll("svg")].filter((s) => !s.parentElement.closest("svg"));
  for (const svg of svgs) {
    const box = svg.getBoundingClientRect();
    const label = svg.getAttribute("aria-label") || (svg.querySelector(":scope > title") || {}).textContent;
    if (box.width < 1 || box.height < 1) problems.push(`svg ${name(svg)} has no size on the page`);
    if (!(label || "").trim() && svg.getAttribute("aria-hidden") !== "true") {
      problems.push(`svg ${name(svg)} has no alt text (aria-label or <title>)`);
    }
  }
  const SHORT_WORD = 24;  // longer words (paths, URLs, hashes) may wrap anywhere
  const cells = [...document.querySelectorAll("td, th")];
  for (const cell of cells) {
    if (cell.getClientRects().length === 0) continue;
    const box = cell.getBoundingClientRect();
    if (cell.scrollWidth > cell.clientWidth + 1) {
      problems.push(`text overflows its cell by ${cell.scrollWidth - cell.clientWidth}px: ${name(cell)}`);
    }
    if (box.right > width + 1) {
      problems.push(`cell runs past the ${width}px viewport (right edge ${Math.round(box.right)}px): ${name(cell)}`);
    }
    // a column squeezed narrower than its words: a short word (a label, a number) is wider than the cell's
    // text box, so the browser cut it mid-word (after a hyphen or a slash a line may end: pieces end there)
    const style = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const piece of node.data.matchAll(/[^\s\-\/]+[\-\/]*/g)) {
        if (piece[0].length > SHORT_WORD) continue;
        const range = document.createRange();
        range.setStart(node, piece.index);
        range.setEnd(node, piece.index + piece[0].length);
        const wide = [...range.getClientRects()].reduce((sum, r) => sum + r.width, 0);
        if (wide > room + 1) {
          const need = `needs ${Math.ceil(wide)}px, has ${Math.floor(room)}px`;
          problems.push(`a column is narrower than its words: ${JSON.stringify(piece[0])} ${need}`);
        }
      }
    }
  }
  for (const table of document.querySelectorAll("table")) {
    const box = table.getBoundingClientRect();
    if (box.width > width + 1) problems.push(`a table is ${Math.round(box.width)}px wide, wider than the viewport`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > width + 1) problems.push(`the page is ${page}px wide: it scrolls sideways at ${width}px`);
  const counted = new Map();
  for (const p of problems) counted.set(p, (counted.get(p) || 0) + 1);
  return {
    title: document.title,
    width,
    height: document.documentElement.scrollHeight,
    images: images.length + svgs.length,
    cells: cells.length,
    figures: [...document.querySelectorAll("figure")].map((f) => Math.ceil(f.getBoundingClientRect().bottom + scrollY)),
    problems: [...counted].map(([p, n]) => (n > 1 ? `${p} (${n} times)` : p)),
  };
})()
"""


@dataclass
class Verdict:
    """What a reader's browser found on one page."""

    title: str
    width: int
    height: int
    images: int
    cells: int
    problems: list[str]
    figures: list[int] = field(default_factory=list)
    """Where each ``<figure>`` ends, in px from the top of the page."""
    errors: list[str] = field(default_factory=list)
    """Console errors, uncaught exceptions and failed loads, in the order they happened."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.errors

    def __str__(self) -> str:
        lines = [f"{self.title!r}: {self.images} images, {self.cells} cells, {self.width}x{self.height}px"]
        lines += [f"  console: {e}" for e in self.errors] + [f"  layout: {p}" for p in self.problems]
        return "\n".join(lines)


class BrowserError(RuntimeError):
    """The browser did not start or stopped answering."""


def find_chromium() -> str | None:
    """Debian's ``chromium`` launcher (or ``$TUNEWISE_CHROMIUM``), if installed."""
    return os.environ.get("TUNEWISE_CHROMIUM") or shutil.which("chromium")


def _binary() -> str:
    binary = find_chromium()
    if binary is None:
        raise BrowserError(INSTALL_HINT)
    return binary


class _Pipe:
    """The DevTools protocol over ``--remote-debugging-pipe``: JSON messages ending in NUL, on fds 3 and 4."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # numbers above 4, so that dup2 to 3 and 4 in the child cannot clobber one with the other
        child_r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def wire() -> None:
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        args = [_binary(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"]
        args += ["--remote-debugging-pipe", "about:blank"]
        self._log = log.open("wb")
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(3, 4),
                preexec_fn=wire,  # wires fds 3 and 4 in the child, before exec
            )
        finally:
            os.close(child_r)
            os.close(child_w)
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_chrome, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._answers.put(json.loads(message))
        self._answers.put(None)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        wanted = self._next
        return self.wait(lambda m: m.get("id") == wanted, method)

    def wait(self, done: Any, what: str) -> dict[str, Any]:
        """The first message ``done`` accepts; events seen meanwhile are kept in ``events``."""
        while True:
            try:
                message = self._answers.get(timeout=TIMEOUT)
            except queue.Empty:
                raise BrowserError(f"chromium did not answer {what} within {TIMEOUT:.0f}s") from None
            if message is None:
                raise BrowserError(f"chromium exited (status {self.process.poll()}) while waiting for {what}")
            if "method" in message:
                self.events.append(message)
            if done(message):
                if "error" in message:
                    raise BrowserError(f"{what}: {message['error'].get('message')}")
                result: dict[str, Any] = message.get("result", message.get("params", {}))
                return result

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.call("Browser.close")
        except (BrowserError, OSError):
            pass
        finally:
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            os.close(self._to_chrome)
            self._reader.join(timeout=TIMEOUT)
            os.close(self._from_chrome)
            self._log.close()


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "exception")
            errors.append(f"uncaught {text.splitlines()[0]} (line {details.get('lineNumber', 0) + 1})")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            words = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            errors.append(f"console.{params['type']}: {' '.join(words)}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            url = entry.get("url", "")
            url = url if len(url) <= 100 else "..." + url[-97:]  # the end names the file
            errors.append(f"{entry.get('source', 'log')}: {entry.get('text', '')} {url}".strip())
    return errors


def check_page(page: Path) -> Verdict:
    """Load ``page`` at 1280 px wide and report what a reader would see go wrong."""
    page = page.resolve()
    with tempfile.TemporaryDirectory(prefix="tunewise-chromium-") as scratch:
        pipe = _Pipe(Path(scratch) / "profile", Path(scratch) / "chromium.log")
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.call(f"{domain}.enable", session)
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=WIDTH,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            pipe.events.clear()  # about:blank's events are not the page's
            navigation = pipe.call("Page.navigate", session, url=page.as_uri())
            if navigation.get("errorText"):
                raise BrowserError(f"{page}: {navigation['errorText']}")
            pipe.wait(lambda m: m.get("method") == "Page.loadEventFired", f"the load event of {page.name}")
            answer = pipe.call("Runtime.evaluate", session, expression=CHECKS, awaitPromise=True, returnByValue=True)
            if "exceptionDetails" in answer:
                raise BrowserError(f"the checks failed to run: {answer['exceptionDetails'].get('text')}")
            found: dict[str, Any] = answer["result"]["value"]
            # a last round trip, so that messages logged while the checks ran are in
            pipe.call("Runtime.evaluate", session, expression="0")
        finally:
            pipe.close()
    return Verdict(**found, errors=_console_errors(pipe.events))


def screenshot(page: Path, png: Path, *, height: int = HEIGHT) -> Path:
    """``chromium --headless --screenshot``: the top ``height`` pixels of ``page`` at 1280 px wide."""
    png = png.resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tunewise-chromium-") as scratch:
        args = [_binary(), *FLAGS, f"--user-data-dir={scratch}", f"--window-size={WIDTH},{height}"]
        args += [f"--screenshot={png}", "--virtual-time-budget=5000", page.resolve().as_uri()]
        done = subprocess.run(args, capture_output=True, timeout=TIMEOUT * 2, check=False)
    if done.returncode != 0 or not png.is_file():
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise BrowserError(f"chromium --screenshot failed (status {done.returncode}): {' | '.join(tail)}")
    return png


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Check a report in headless Chromium and take its screenshot.")
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path, nargs="?")
    parser.add_argument("--height", type=int, default=0, help="screenshot height in px (default: the whole page)")
    parser.add_argument("--figures", type=int, default=0, help="end the screenshot under the page's Nth figure")
    parser.add_argument("--max-colours", type=int, default=0, help="quantise the PNG to this many colours")
    args = parser.parse_args(argv)
    verdict = check_page(args.page)
    print(verdict)
    if not verdict.ok:
        print("not taking a picture of a page with problems", file=sys.stderr)
        return 1
    if args.png is not None:
        height = args.height or verdict.height
        if args.figures:
            if len(verdict.figures) < args.figures:
                print(f"the page has {len(verdict.figures)} figures, not {args.figures}", file=sys.stderr)
                return 1
            height = verdict.figures[args.figures - 1] + 8  # inside the margin under it
        screenshot(args.page, args.png, height=height)
        if args.max_colours:
            from PIL import Image

            with Image.open(args.png) as image:
                small = image.convert("RGB").quantize(colors=args.max_colours, dither=Image.Dither.NONE)
            small.save(args.png, optimize=True)
        print(f"{args.png}: {args.png.stat().st_size // 1024} KB, {WIDTH}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

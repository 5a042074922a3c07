"""The reports as a reader sees them: opened in headless Chromium (Debian's ``chromium``) at 1280 px wide.

Each page must load with no console error, every image must load with a size and alt text, and no text may
overflow its table cell or push the page past the viewport. The pages come from the real rendering code on
real runs: a ladder climbed by a scripted provider, an evaluation run, and the support-bot demo's quick path
on the tiny local model. The answers in them are hostile on purpose (markup, a script, unbroken long words).

Without ``chromium`` these tests skip, saying how to install it; ``TUNEWISE_REQUIRE_BROWSER=1`` (set by
``.ci/run``) turns the skip into a failure, so CI never skips them.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import headless_chromium as browser  # tests/headless_chromium.py and tests/ladder_world.py: on sys.path
import ladder_world as world  # by tests/conftest.py
import pytest

from tunewise import ChatRequest, Model, ModelRef
from tunewise.demo import DemoOutcome
from tunewise.evaluation import Case, RunStore, build_report, evaluate
from tunewise.ladder import run_ladder
from tunewise.strategies import SystemPrompt, ZeroShot
from tunewise.testing import ScriptedProvider

HERE = Path(__file__).resolve().parent


# Text a model could answer: markup and a script that must show as text, and words too long to wrap.
RAN_AS_CODE = "an answer ran as code"
HOSTILE = (
    f'<script>throw new Error("{RAN_AS_CODE}")</script><img src="nowhere.png" onerror="throw 1"> '
    "<b>bold?</b> & see https://support.example.com/" + "a" * 160 + " or " + "x" * 90
)
LONG_REF = "/tmp/pytest-of-ci/pytest-1234/test_the_report0/models/smollm2-135m-instruct-" + "q" * 40


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, or a skip (a failure where ``TUNEWISE_REQUIRE_BROWSER=1``) saying how to install it."""
    found = browser.find_chromium()
    if found is None:
        if os.environ.get("TUNEWISE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{browser.INSTALL_HINT} (TUNEWISE_REQUIRE_BROWSER=1: this run must test in a browser)")
        pytest.skip(browser.INSTALL_HINT)
    return str(found)


def assert_reads_well(page: Path, *, images: int) -> Any:
    verdict = browser.check_page(page)
    assert verdict.ok, str(verdict)
    assert verdict.width == browser.WIDTH and verdict.cells > 0
    assert verdict.images >= images, str(verdict)
    return verdict


def assert_screenshot(page: Path, png: Path) -> None:
    from PIL import Image

    browser.screenshot(page, png, height=800)
    with Image.open(png) as image:
        assert image.size == (browser.WIDTH, 800)
        # not blank: the page's text and charts give many colours, a blank or error page a handful
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, f"{png}: {len(colours or [])} colours, a blank page?"


# A ladder climbed by the scripted world: base model wrong, fine-tune right; two kinds; hostile answers.


class HostileWorld(world.World):  # type: ignore[misc,name-defined]
    """The ladder world whose wrong answers are hostile text; the optimizer's instructions stay readable."""

    def __call__(self, request: ChatRequest) -> str:
        answer: str = super().__call__(request)
        return f"{HOSTILE} {answer}" if answer in ("I am not sure.", "unknown") else answer


def kind_of(i: int) -> dict[str, Any]:
    if i % 3 == 0:
        return {"kind": "facts", "must_contain": [world.answer(i), "<i>seven</i>"]}
    return {"kind": "style & <tone>"}


@pytest.fixture(scope="module")
def ladder_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ladder")
    config = world.write_world(
        folder, test=24, metadata=kind_of, extra='\n[report]\nmetrics = ["must_contain"]\ngroup_by = "kind"\n'
    )
    # a base model named by a long path, as local models are: its fine-tune is that path plus a job id
    config.write_text(config.read_text().replace('base = "scripted:base"', f'base = "scripted:{LONG_REF}"'))
    provider = world.WorldProvider(HostileWorld(), folder / "jobs.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scripted models have no price: costs unknown, as the report says
        outcome = anyio.run(lambda: run_ladder(config, providers={"scripted": provider}))
    assert outcome.state.results["fine_tune"].mean == 1.0  # the climb happened: a real report of a real ladder
    page: Path = outcome.out / "report.html"
    return page


def test_the_ladder_report_reads_well_at_1280px(chromium: str, ladder_report: Path, tmp_path: Path) -> None:
    html = ladder_report.read_text(encoding="utf-8")
    # the hostile answers are on the page as text (the sample answers); the browser ran none of them
    assert RAN_AS_CODE in html and "&lt;script&gt;throw new Error" in html
    verdict = assert_reads_well(ladder_report, images=2)  # quality against cost, and per kind
    assert verdict.title and verdict.height > 0
    assert_screenshot(ladder_report, tmp_path / "ladder.png")


# An evaluation run: two strategies, groups, a failing case, wins and losses with hostile answers.


def eval_answer(request: ChatRequest) -> str:
    question = request.messages[-1].content or ""
    n = int(question.split()[-1].rstrip("?"))
    if n == 7:
        raise RuntimeError(f"upstream said <b>no</b> to case {n} " + "z" * 120)
    if request.messages[0].role == "system" or n % 3 == 0:
        return f"answer {n}"
    return f"{HOSTILE} {n}"


@pytest.fixture(scope="module")
def eval_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    base = Model(ModelRef(prefix="scripted", name=LONG_REF), ScriptedProvider(eval_answer))
    cases = [
        Case.of(
            f"What about {i}?",
            f"answer {i}",
            id=f"case-{i}",
            kind="facts" if i % 2 else "style & <tone>",
            must_contain=[f"answer {i}"],
        )
        for i in range(40)
    ]

    async def run() -> None:
        await evaluate(
            [ZeroShot(base, name="zero <shot>"), SystemPrompt(base, "Answer well.", name="prompted")],
            cases,
            ["exact_match", "token_f1", "must_contain"],
            store=folder / "runs.sqlite",
            run_id="browser",
            group_by="kind",
            cost=lambda ref, usage: 0.002 * (usage.total_tokens or 0) / 1000,
        )

    anyio.run(run)
    with RunStore(folder / "runs.sqlite") as store:
        _, page = build_report(store, "browser").write(folder / "report")
    return page


def test_the_evaluation_report_reads_well_at_1280px(chromium: str, eval_report: Path) -> None:
    html = eval_report.read_text(encoding="utf-8")
    assert RAN_AS_CODE in html and "&lt;script&gt;throw new Error" in html
    assert_reads_well(eval_report, images=3)


# The demo's report: the support-bot example's quick path on the tiny local model, as `make test` runs it.


@pytest.fixture
def demo_report(quick_demo: DemoOutcome) -> Path:
    page: Path = quick_demo.report_html  # one quick run per session (tests/conftest.py)
    return page


@pytest.mark.slow
def test_the_demo_report_reads_well_at_1280px(chromium: str, demo_report: Path, tmp_path: Path) -> None:
    assert_reads_well(demo_report, images=2)  # quality against cost, and per kind
    assert_screenshot(demo_report, tmp_path / "demo.png")


# The checker itself: every defect planted in a copy of a real report (whose own check passes) is found, and named.


def plant(html: str, where: str, what: str) -> str:
    marker = {"head": "</head>", "body": "</body>"}[where]
    assert marker in html
    return html.replace(marker, what + marker, 1)


DEFECTS: dict[str, tuple[Callable[[str], str], str]] = {
    "a thrown error": (
        lambda h: plant(h, "body", "<script>throw new Error('planted failure')</script>"),
        r"console: uncaught Error: planted failure",
    ),
    "a console error": (
        lambda h: plant(h, "head", "<script>console.error('planted', 42)</script>"),
        r"console: console.error: planted 42",
    ),
    "a broken image": (
        lambda h: plant(h, "body", '<img alt="planted chart" src="data:image/png;base64,iVBORw0KGgoAAAA=">'),
        r'layout: image "planted chart" did not load',
    ),
    "a missing image file": (
        lambda h: plant(h, "body", '<img alt="gone" src="no-such-chart.png">'),
        r"console: network: Failed to load resource: .*no-such-chart\.png",
    ),
    "an image without alt text": (
        lambda h: re.sub(r'<img alt="[^"]*"', "<img", h, count=1),
        r"layout: image .* has no alt text",
    ),
    "an image of no size": (
        lambda h: plant(h, "head", "<style>img { width: 0 !important; }</style>"),
        r"layout: image .* has no size on the page",
    ),
    "text overflowing its cell": (
        lambda h: plant(
            h,
            "body",
            '<table style="table-layout: fixed; width: 10rem"><tr>'
            f'<td style="white-space: nowrap; overflow: hidden">{"w" * 80}</td></tr></table>',
        ),
        r'layout: text overflows its cell by \d+px: "w{80}"',
    ),
    "a column squeezed narrower than a word": (
        lambda h: plant(
            h,
            "body",
            '<table style="table-layout: fixed; width: 4rem"><tr>'
            '<td style="overflow-wrap: anywhere">squeezed_label</td></tr></table>',
        ),
        r'layout: a column is narrower than its words: "squeezed_label" needs \d+px, has \d+px',
    ),
    "a table wider than the viewport": (
        lambda h: plant(h, "body", f'<table><tr><td style="white-space: nowrap">{"m " * 400}</td></tr></table>'),
        r"layout: a table is \d+px wide, wider than the viewport",
    ),
}


def test_the_checker_finds_every_planted_defect(chromium: str, ladder_report: Path, tmp_path: Path) -> None:
    html = ladder_report.read_text(encoding="utf-8")
    for spoil, _ in DEFECTS.values():
        html = spoil(html)
    page = tmp_path / "spoiled.html"
    page.write_text(html, encoding="utf-8")
    verdict = browser.check_page(page)
    missed = [defect for defect, (_, finding) in DEFECTS.items() if not re.search(finding, str(verdict))]
    assert not missed, f"not found: {missed}\n{verdict}"
    assert not verdict.ok


def test_without_chromium_it_skips_with_the_install_line_and_fails_where_required(tmp_path: Path) -> None:
    """A developer without chromium sees why the test skipped; CI (TUNEWISE_REQUIRE_BROWSER=1) fails instead."""
    import subprocess

    bare = tmp_path / "bin"  # a PATH with python and nothing else: no chromium on it
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("TUNEWISE_CHROMIUM", "TUNEWISE_REQUIRE_BROWSER")}
    env["PATH"] = str(bare)
    args = [sys.executable, "-m", "pytest", "-q", "-rs", __file__, "-k", "evaluation_report"]
    skipped = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False, cwd=HERE.parent)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 skipped" in skipped.stdout and browser.INSTALL_HINT in skipped.stdout
    env["TUNEWISE_REQUIRE_BROWSER"] = "1"
    failed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False, cwd=HERE.parent)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 error" in failed.stdout or "1 failed" in failed.stdout
    assert "TUNEWISE_REQUIRE_BROWSER=1: this run must test in a browser" in failed.stdout

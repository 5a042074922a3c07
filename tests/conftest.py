"""Fixtures shared across test folders, and the folder's helper modules made importable.

pytest runs with ``--import-mode=importlib``, so test modules are not on ``sys.path`` and cannot
import each other. The helpers they share (``ladder_world``, ``headless_chromium``) are plain
modules in this folder: putting the folder on ``sys.path`` once, here, lets every test
``import ladder_world`` instead of loading it by file path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from tunewise.demo import DemoOutcome

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

SUPPORT_BOT = Path(__file__).resolve().parents[1] / "examples" / "support-bot"


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoOutcome:
    """The support-bot demo's quick path (tiny model, real Chroma, real LoRA), run once per test session."""
    from tunewise.demo import QUICK, run_demo

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNEWISE_HOME", str(out / "tunewise-home"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        return anyio.run(lambda: run_demo(example=SUPPORT_BOT, out=out, size=QUICK))

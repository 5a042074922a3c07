"""Fixtures shared across test folders."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from tunewise.demo import DemoOutcome

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

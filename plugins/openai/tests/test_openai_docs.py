"""Every code block of docs/openai.md runs (python) or parses into valid options (toml)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tunewise import ProfileConfig
from tunewise_openai import OpenAIOptions

DOC = Path(__file__).resolve().parents[3] / "docs" / "openai.md"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]


def test_the_page_has_examples() -> None:
    assert len(PYTHON) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_blocks_run(code: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(code, f"{DOC}:python", "exec"), {"__name__": "docs_example"})


@pytest.mark.parametrize("code", [c for lang, c in BLOCKS if lang == "toml"])
def test_toml_blocks_are_valid_profiles(code: str) -> None:
    for name, profile in tomllib.loads(code)["profiles"].items():
        checked = ProfileConfig.model_validate(profile)
        OpenAIOptions.parse(checked.options, profile=name)

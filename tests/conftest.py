"""Shared fixtures: an isolated tunewise home and settings for every test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own TUNEWISE_HOME and no keys or config from the developer's machine."""
    home = tmp_path / "tunewise-home"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    for name in ("TUNEWISE_CONFIG", "OPENAI_API_KEY", "TUNEWISE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home

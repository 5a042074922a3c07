"""Pytest fixtures for suites built on tunewise: no settings, keys or downloads leak in from the machine.

Import them into a ``conftest.py`` (``isolated_settings`` is autouse, so every test there gets it)::

    from tunewise.testing.pytest_plugin import anyio_backend, isolated_settings  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path

import pytest

LEAKY_VARIABLES = ("TUNEWISE_CONFIG", "OPENAI_API_KEY", "TUNEWISE_OPENAI_API_KEY")
"""Variables a developer's shell may set that would change what a test sees."""


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio."""
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own ``TUNEWISE_HOME``, no keys or config file from the machine, and offline Hugging Face.

    Returns the home folder (``tmp_path / "tunewise-home"``, created on first use by tunewise).
    """
    home = tmp_path / "tunewise-home"
    monkeypatch.setenv("TUNEWISE_HOME", str(home))
    for name in LEAKY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    return home

"""Fixtures for the OpenAI plugin's tests: an isolated home and a fake OpenAI server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer, run_fake_openai
from tunewise_openai.fake.pytest_plugin import fake_openai, fake_openai_server  # noqa: F401 - fixtures for reuse

SECRET = "sk-test-4f9c2b7e1d8a6035aa11bb22cc33dd44"
FAST: dict[str, Any] = {
    "timeout": 2.0,
    "connect_timeout": 2.0,
    "backoff_initial": 0.002,
    "backoff_max": 0.02,
    "max_retries": 10,
    "poll_interval": 0.0,
}
"""Options that keep retries and polls quick against the loopback fake."""


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Job records and files a test writes land in its own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    with run_fake_openai(api_key=SECRET) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeServer) -> Iterator[FakeServer]:
    """The session's fake server, emptied and with faults off for this test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def provider_factory(fake: FakeServer, isolated_settings: Path) -> Any:
    def make(**options: Any) -> OpenAIProvider:
        return OpenAIProvider(
            base_url=fake.base_url, api_key=SECRET, name="openai", options={**FAST, **options}, home=isolated_settings
        )

    return make

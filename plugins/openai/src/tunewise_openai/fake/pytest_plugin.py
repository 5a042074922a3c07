"""Pytest fixtures for the fake OpenAI server, for any test suite.

Use it from a ``conftest.py``::

    pytest_plugins = ["tunewise_openai.fake.pytest_plugin"]      # in the root conftest, or
    from tunewise_openai.fake.pytest_plugin import fake_openai, fake_openai_server  # noqa: F401

``fake_openai`` is the session's server, emptied (files, jobs, counters) and with faults
off before and after each test; it needs no API key.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tunewise_openai.fake._server import FakeServer, run_fake_openai


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeServer]:
    """One fake server for the whole session (starting one takes a moment)."""
    with run_fake_openai() as server:
        yield server


@pytest.fixture
def fake_openai(fake_openai_server: FakeServer) -> Iterator[FakeServer]:
    """The session's fake server, reset for this test: ``fake_openai.base_url``, ``.faults``, ``.stats()``."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()

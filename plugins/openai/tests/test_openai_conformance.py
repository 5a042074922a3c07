"""The provider conformance suite, run against the fake server through the real HTTP stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise import FineTuneSpec, Provider
from tunewise.testing import ProviderConformance
from tunewise_openai import OpenAIProvider
from tunewise_openai.fake import FakeServer

from .conftest import FAST, SECRET


class TestOpenAIConformance(ProviderConformance):
    model = "gpt-4o-mini"
    missing_model = "gpt-0-does-not-exist"
    embedding_model = "text-embedding-3-small"
    secret = SECRET
    concurrency = 16
    tool = {  # noqa: RUF012 - read by the suite, never changed
        "type": "function",
        "function": {"name": "greet", "parameters": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    base_url = ""
    home = Path()

    @pytest.fixture(autouse=True)
    def _server(self, fake: FakeServer, isolated_settings: Path) -> None:
        self.base_url = fake.base_url
        self.home = isolated_settings

    def make_provider(self) -> Provider:
        return OpenAIProvider(base_url=self.base_url, api_key=SECRET, options=FAST, home=self.home)

    def fine_tune_spec(self, workdir: Path) -> FineTuneSpec | None:
        example = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
        path = workdir / "train.jsonl"
        path.write_text(json.dumps(example) + "\n", encoding="utf-8")
        return FineTuneSpec(base_model="gpt-4o-mini", training_file=path, suffix="conformance")

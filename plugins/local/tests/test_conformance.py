"""The provider conformance suite, run against the local provider and a tiny model it trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise import FineTuneSpec, Provider
from tunewise.testing import ProviderConformance
from tunewise_local._provider import LocalProvider


class TestLocalConformance(ProviderConformance):
    prompt = "What is the refund window?"
    missing_model = "/nonexistent/tunewise/model"

    @pytest.fixture(autouse=True)
    def _tiny(self, tiny_model: Path, chat_data: tuple[Path, Path], tmp_path: Path) -> None:
        self.model = str(tiny_model)
        self.embedding_model = str(tiny_model)
        self.train_file = chat_data[0]
        self.home = tmp_path / "home"

    def make_provider(self) -> Provider:
        return LocalProvider(home=self.home)

    def fine_tune_spec(self, workdir: Path) -> FineTuneSpec:
        return FineTuneSpec(
            base_model=self.model,
            training_file=self.train_file,
            n_epochs=1,
            batch_size=2,
            options={"validation_split": 0.0, "num_threads": 1},
        )

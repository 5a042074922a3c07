"""The fine-tune rung's training set: the train split as chat rows, checked and counted by the data toolkit."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError, DataError
from tunewise._refs import ModelRef
from tunewise.ladder._config import LadderConfig

if TYPE_CHECKING:
    from tunewise.data import DataReport
    from tunewise.evaluation import Case


class TrainingSet:
    """The training cases with a reference answer, as the rows a fine-tune job trains on."""

    def __init__(self, config: LadderConfig, train: Sequence[Case], path: Path) -> None:
        self.config = config
        self.train = train
        self.path = path
        self._report: DataReport | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One chat per training case with a reference: the config's system prompt, the input, the reference."""
        system = self.config.system_prompt
        rows = []
        for case in self.train:
            if not case.reference:
                continue
            messages = [m.model_dump(mode="json", exclude_none=True) for m in case.input]
            if system and not any(m.role == "system" for m in case.input):
                messages.insert(0, {"role": "system", "content": system})
            messages.append({"role": "assistant", "content": case.reference})
            rows.append({"messages": messages})
        return rows

    def subset(self, fraction: float) -> list[dict[str, Any]]:
        """The first ``fraction`` of the rows in one fixed shuffle (by ``fine_tune.seed``), in file order.

        Nested by construction: the 25% subset is inside the 50% one, and 1.0 is every row.
        """
        rows = self.rows()
        order = list(range(len(rows)))
        random.Random(self.config.fine_tune.seed or 0).shuffle(order)
        keep = sorted(order[: max(1, round(fraction * len(rows)))])
        return [rows[i] for i in keep]

    def subset_report(self, fraction: float) -> DataReport:
        """A subset counted by the data toolkit at the full run's epochs (the curve keeps one recipe)."""
        from tunewise.data import analyze

        return analyze(self.subset(fraction), model=self._model(), epochs=self.epochs())

    def _model(self) -> str | None:
        """The model whose encoding counts tokens: an OpenAI model the toolkit knows, else ``None``."""
        from tunewise.data import encoding_for_model

        ref = ModelRef.parse(self.config.fine_tune_base)
        if ref.prefix != "openai":
            return None
        try:
            encoding_for_model(ref.name)
        except ConfigError:
            return None
        return ref.name

    def report(self) -> DataReport:
        """The training file checked and counted by the data toolkit: billed tokens per epoch and the epochs.

        OpenAI models are counted with their own encoding; other models with ``o200k_base``
        (an estimate). A training set with format errors is refused before any job starts.
        """
        if self._report is None:
            from tunewise.data import analyze

            report = analyze(self.rows(), model=self._model(), epochs=self.config.fine_tune.epochs)
            if not report.ok:
                first = report.errors[0] if report.errors else None
                where = f"example {first.line}: " if first is not None and first.line else ""
                detail = f"{where}{first.message}" if first is not None else "format errors"
                raise DataError(f"the training split cannot be used for fine-tuning: {detail}", path=self.path)
            self._report = report
        return self._report

    def tokens(self) -> int:
        """One pass over the training data (what the provider bills per epoch), counted by the data toolkit."""
        return self.report().billed_tokens_per_epoch

    def epochs(self) -> int:
        """The configured epochs, else the data toolkit's choice for this many examples."""
        return self.config.fine_tune.epochs or self.report().epochs

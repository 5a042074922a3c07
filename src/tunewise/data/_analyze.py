"""One streaming pass over a chat JSONL file: every problem, token statistics and the training estimate.

This is what OpenAI's cookbook data-prep notebook computes, as a library call that
reads the file line by line (memory stays flat for any number of examples), reports
all problems with file, line and field, and never raises on bad data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.data._checks import check_example
from tunewise.data._distribution import Histogram, Summary
from tunewise.data._estimate import DEFAULT_MAX_TOKENS, default_epochs, training_cost, training_token_limit
from tunewise.data._jsonl import DEFAULT_MAX_LINE_BYTES, Example, read_jsonl
from tunewise.data._problems import Problem
from tunewise.data._tokens import TokenCounter, token_counter

#: OpenAI rejects a training file with fewer examples than this.
MIN_EXAMPLES = 10
#: Below this, OpenAI's guide expects little improvement; a warning.
RECOMMENDED_MIN_EXAMPLES = 50
#: The "file name" problems carry when examples come from memory.
IN_MEMORY = "<examples>"


@dataclass
class DataReport:
    """What [`analyze()`][tunewise.data.analyze] found. ``ok`` is true when there is no error (warnings allowed).

    Token statistics, epochs and billed tokens cover the ``n_valid`` examples that
    passed every format check: the ones a fine-tune would train on.
    """

    path: str
    counter: str
    max_tokens: int
    n_examples: int = 0
    n_valid: int = 0
    problems: list[Problem] = field(default_factory=list)
    n_problems: int = 0
    format_errors: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    n_missing_system: int = 0
    n_missing_user: int = 0
    total_tokens: Summary = field(default_factory=lambda: Histogram().summary())
    assistant_tokens: Summary = field(default_factory=lambda: Histogram().summary())
    n_over_limit: int = 0
    billed_tokens_per_epoch: int = 0
    default_epochs: int = 0
    epochs: int = 0
    billed_training_tokens: int = 0
    price_per_1m_training_tokens: float | None = None
    estimated_cost: float | None = None

    @property
    def ok(self) -> bool:
        return not self.format_errors

    @property
    def errors(self) -> list[Problem]:
        """The error-severity problems kept in `problems`."""
        return [p for p in self.problems if p.severity == "error"]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data; the keys ``tunewise data stats --json`` prints."""
        return {
            "path": self.path,
            "counter": self.counter,
            "max_tokens": self.max_tokens,
            "ok": self.ok,
            "n_examples": self.n_examples,
            "n_valid": self.n_valid,
            "format_errors": dict(sorted(self.format_errors.items())),
            "warnings": dict(sorted(self.warnings.items())),
            "n_missing_system": self.n_missing_system,
            "n_missing_user": self.n_missing_user,
            "total_tokens": self.total_tokens.to_dict(),
            "assistant_tokens": self.assistant_tokens.to_dict(),
            "n_over_limit": self.n_over_limit,
            "billed_tokens_per_epoch": self.billed_tokens_per_epoch,
            "default_epochs": self.default_epochs,
            "epochs": self.epochs,
            "billed_training_tokens": self.billed_training_tokens,
            "price_per_1m_training_tokens": self.price_per_1m_training_tokens,
            "estimated_cost": self.estimated_cost,
            "n_problems": self.n_problems,
            "problems": [p.to_dict() for p in self.problems],
        }


class _Pass:
    """One streaming pass over the examples: problems counted (the first ``max_problems`` kept) and sizes."""

    def __init__(self, report: DataReport, max_problems: int, tokens: TokenCounter) -> None:
        self.report = report
        self.max_problems = max_problems
        self.tokens = tokens
        self.errors: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.totals, self.assistants = Histogram(), Histogram()
        self.billed = 0

    def add(self, problem: Problem) -> None:
        (self.errors if problem.severity == "error" else self.warnings)[problem.code] += 1
        self.report.n_problems += 1
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(problem)

    def take(self, item: Example | Problem) -> None:
        """A line the reader could not parse (a problem) or an example to check and measure."""
        report = self.report
        if isinstance(item, Problem):
            self.add(item)
            report.n_examples += item.severity == "error" and item.line is not None
            return
        report.n_examples += 1
        problems = check_example(item.data, path=report.path, line=item.line)
        for problem in problems:
            self.add(problem)
        if not any(p.severity == "error" for p in problems):
            self._measure(item)

    def _measure(self, item: Example) -> None:
        report, limit = self.report, self.report.max_tokens
        report.n_valid += 1
        roles = {m.get("role") for m in item.data["messages"]}
        report.n_missing_system += not roles & {"system", "developer"}
        report.n_missing_user += "user" not in roles
        total, assistant = self.tokens.count(item.data)
        self.totals.add(total)
        self.assistants.add(assistant)
        self.billed += min(total, limit)
        if total > limit:
            report.n_over_limit += 1
            message = f"{total:,} tokens, over the {limit:,}-token limit; training truncates it"
            self.add(Problem("too_many_tokens", message, report.path, item.line, severity="warning"))

    def check_volume(self) -> None:
        """Too few examples to train (an error) or fewer than recommended (a warning)."""
        n, name = self.report.n_examples, self.report.path
        if 0 < n < MIN_EXAMPLES:
            self.add(Problem("too_few_examples", f"{n} examples; OpenAI needs at least {MIN_EXAMPLES}", name))
        elif MIN_EXAMPLES <= n < RECOMMENDED_MIN_EXAMPLES:
            message = f"{n} examples; OpenAI recommends at least {RECOMMENDED_MIN_EXAMPLES}"
            self.add(Problem("few_examples", message, name, severity="warning"))

    def finish(self, epochs: int | None, price_per_1m_training_tokens: float | None) -> DataReport:
        report = self.report
        report.format_errors = dict(self.errors)
        report.warnings = dict(self.warnings)
        report.total_tokens = self.totals.summary()
        report.assistant_tokens = self.assistants.summary()
        report.billed_tokens_per_epoch = self.billed
        report.default_epochs = default_epochs(report.n_valid)
        report.epochs = report.default_epochs if epochs is None else epochs
        report.billed_training_tokens = self.billed * report.epochs
        if price_per_1m_training_tokens is not None:
            report.price_per_1m_training_tokens = price_per_1m_training_tokens
            report.estimated_cost = training_cost(report.billed_training_tokens, price_per_1m_training_tokens)
        return report


def analyze(
    path: str | Path | Iterable[Any],
    *,
    counter: TokenCounter | None = None,
    model: str | None = None,
    encoding: str | None = None,
    tokenizer: str | Path | None = None,
    max_tokens: int | None = None,
    epochs: int | None = None,
    price_per_1m_training_tokens: float | None = None,
    max_problems: int = 1000,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DataReport:
    """Validate a chat fine-tuning file and estimate what training on it costs, in one streaming pass.

    Args:
        path: the JSONL file (OpenAI chat fine-tuning format), or examples already in
            memory (an iterable of dicts; problems then name ``<examples>`` and the
            1-based position as the line).
        counter: a ready [`TokenCounter`][tunewise.data.TokenCounter]; otherwise one is built from ``model``,
            ``encoding`` or ``tokenizer``.
        model: the target model's name: an OpenAI model name picks its encoding, and sets the
            default ``max_tokens``.
        encoding: a tiktoken encoding to count with (``cl100k_base`` or ``o200k_base``).
        tokenizer: a local Hugging Face tokenizer directory to count with.
        max_tokens: the per-example token limit of the target model; longer examples
            are flagged and billed at the limit. By default the published limit of
            ``model`` (65,536 for gpt-4o and gpt-4o-mini), else 16,385 (the cookbook's).
        epochs: the epochs you will set; ``None`` uses OpenAI's default rule.
        price_per_1m_training_tokens: when given, the report includes ``estimated_cost``.
        max_problems: how many problems to keep in the report (all are counted).
        max_line_bytes: the longest line read (32 MiB by default); a longer one is skipped without
            being held in memory and reported as a problem on its line.

    Raises:
        DataError: only when the file cannot be opened at all.
    """
    tokens = counter if counter is not None else token_counter(model=model, encoding=encoding, tokenizer=tokenizer)
    if max_tokens is None and model is not None:
        max_tokens = training_token_limit(model)
    limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    name = str(path) if isinstance(path, str | Path) else IN_MEMORY
    one_pass = _Pass(DataReport(path=name, counter=tokens.name, max_tokens=limit), max_problems, tokens)
    items: Iterable[Example | Problem]
    if isinstance(path, str | Path):
        items = read_jsonl(path, max_line_bytes=max_line_bytes)
    else:
        items = (Example(IN_MEMORY, i, data, "") for i, data in enumerate(path, 1))
    for item in items:
        one_pass.take(item)
    one_pass.check_volume()
    return one_pass.finish(epochs, price_per_1m_training_tokens)

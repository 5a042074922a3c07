"""Leakage between splits: examples of one file that also appear, exactly or nearly, in another.

A test question that was in the training data inflates every score measured on it.
Files are indexed in the order given; each example is checked against every earlier
file, so ``leakage(train, validation, test)`` reports validation-in-train,
test-in-train and test-in-validation, with the offending pairs of lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunewise._errors import ConfigError
from tunewise.data._jsonl import load_examples
from tunewise.data._similarity import CompareOn, NearIndex, check_on, exact_key, example_text, normalize

_SNIPPET = 80


@dataclass(frozen=True, slots=True)
class Leak:
    """``path:line`` repeats ``other_path:other_line`` (an earlier file), exactly or nearly."""

    path: str
    line: int
    other_path: str
    other_line: int
    kind: Literal["exact", "near"]
    similarity: float
    text: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line} ~ {self.other_path}:{self.other_line} "
            f"({self.kind}, similarity {self.similarity:.2f}): {self.text}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "other_path": self.other_path,
            "other_line": self.other_line,
            "kind": self.kind,
            "similarity": self.similarity,
            "text": self.text,
        }


@dataclass
class LeakageReport:
    """Pairs of examples shared between files. ``ok`` is true when there are none."""

    paths: list[str]
    on: str
    threshold: float | None
    n_examples: dict[str, int] = field(default_factory=dict)
    n_leaked: dict[str, int] = field(default_factory=dict)  # examples of each file found in an earlier one
    n_leaks: int = 0
    leaks: list[Leak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.n_leaks == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "paths": self.paths,
            "on": self.on,
            "threshold": self.threshold,
            "ok": self.ok,
            "n_examples": self.n_examples,
            "n_leaked": self.n_leaked,
            "n_leaks": self.n_leaks,
            "leaks": [leak.to_dict() for leak in self.leaks],
        }


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 3] + "..."


def leakage(
    *paths: str | Path,
    on: CompareOn = "prompt",
    near: bool = True,
    threshold: float = 0.8,
    num_perm: int = 128,
    max_pairs: int = 10_000,
) -> LeakageReport:
    """Check files (for example train, validation, test) for examples shared between them.

    Args:
        paths: two or more JSONL files; each is checked against the ones before it.
        on: which messages to compare (``prompt``: user turns, the default;
            ``conversation``; ``all``).
        near: also report near duplicates (MinHash LSH at ``threshold`` estimated Jaccard).
        threshold: the estimated Jaccard similarity from which two examples are near duplicates.
        num_perm: MinHash permutations per signature: more estimate the similarity more
            closely, at more time and memory.
        max_pairs: how many pairs to keep in the report; all are counted.
    """
    if len(paths) < 2:
        raise ConfigError("leakage needs at least two files (for example train and test)")
    names = [str(p) for p in paths]
    if len({Path(p).resolve() for p in paths}) != len(paths):
        raise ConfigError("leakage got the same file twice")
    check_on(on)
    index = NearIndex(threshold, num_perm) if near else None
    report = LeakageReport(paths=names, on=on, threshold=threshold if near else None)
    exact: dict[bytes, dict[int, int]] = {}  # key -> {file index: first line}
    where: list[tuple[int, int]] = []  # index key -> (file index, line)
    for file_index, path in enumerate(paths):
        name = names[file_index]
        count = 0
        leaked = 0
        for example in load_examples(path):
            count += 1
            raw = example_text(example.data, on)
            text = normalize(raw)
            if not text:
                continue
            key = exact_key(text)
            earlier = exact.setdefault(key, {})
            partners: dict[int, tuple[int, Literal["exact", "near"], float]] = {
                other: (line, "exact", 1.0) for other, line in earlier.items() if other != file_index
            }
            earlier.setdefault(file_index, example.line)
            if index is not None:
                signature = index.sign(text)
                for slot, similarity in index.matches(signature):
                    other, line = where[slot]
                    if other != file_index and other not in partners:
                        partners[other] = (line, "near", similarity)
                index.add(signature)
                where.append((file_index, example.line))
            leaked += bool(partners)
            for other, (line, kind, similarity) in sorted(partners.items()):
                report.n_leaks += 1
                if len(report.leaks) < max_pairs:
                    report.leaks.append(Leak(name, example.line, names[other], line, kind, similarity, _snippet(raw)))
        report.n_examples[name] = count
        report.n_leaked[name] = leaked
    return report

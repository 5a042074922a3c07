"""Removing exact and near-duplicate examples, keeping the first of each group.

Duplicates waste training budget and, left in before a split, leak test examples into
training. Exact duplicates share normalized text; near duplicates reach a MinHash
Jaccard estimate of ``threshold`` on character 5-grams. Memory holds one 16-byte key and
one signature per kept example, never the examples themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunewise.data._jsonl import load_examples
from tunewise.data._output import atomic_writer
from tunewise.data._similarity import CompareOn, NearIndex, check_on, exact_key, example_text, normalize


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Line ``line`` was dropped as a duplicate of the kept line ``kept_line``."""

    line: int
    kept_line: int
    kind: Literal["exact", "near"]
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kept_line": self.kept_line, "kind": self.kind, "similarity": self.similarity}


@dataclass
class DedupReport:
    """What [`dedup()`][tunewise.data.dedup] kept and dropped."""

    path: str
    out: str | None
    on: str
    threshold: float | None
    n_examples: int = 0
    n_kept: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def n_exact(self) -> int:
        return sum(d.kind == "exact" for d in self.duplicates)

    @property
    def n_near(self) -> int:
        return sum(d.kind == "near" for d in self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "out": self.out,
            "on": self.on,
            "threshold": self.threshold,
            "n_examples": self.n_examples,
            "n_kept": self.n_kept,
            "n_exact": self.n_exact,
            "n_near": self.n_near,
            "duplicates": [d.to_dict() for d in self.duplicates],
        }


def dedup(
    path: str | Path,
    out: str | Path | None = None,
    *,
    on: CompareOn = "prompt",
    near: bool = True,
    threshold: float = 0.8,
    num_perm: int = 128,
) -> DedupReport:
    """Find duplicates in a JSONL file and, when ``out`` is given, write the file without them.

    Args:
        path: the JSONL file to check.
        out: where to write the examples kept; ``None`` only reports the duplicates.
        on: which messages to compare: ``prompt`` (user turns, the default),
            ``conversation`` (user and assistant) or ``all`` (system included).
        near: also drop near duplicates (MinHash LSH); ``False`` drops exact ones only.
        threshold: the estimated Jaccard similarity from which two examples are near duplicates.
        num_perm: MinHash permutations per signature: more estimate the similarity more
            closely, at more time and memory.

    Examples with no text to compare (no message of the chosen roles) are always kept.
    """
    check_on(on)
    index = NearIndex(threshold, num_perm) if near else None
    report = DedupReport(
        path=str(path), out=None if out is None else str(out), on=on, threshold=threshold if near else None
    )
    seen: dict[bytes, int] = {}
    kept_at: list[int] = []  # index slot -> line

    def kept_lines() -> Any:
        for example in load_examples(path):
            report.n_examples += 1
            text = normalize(example_text(example.data, on))
            if text:
                key = exact_key(text)
                first = seen.get(key)
                if first is not None:
                    report.duplicates.append(Duplicate(example.line, first, "exact", 1.0))
                    continue
                if index is not None:
                    signature = index.sign(text)
                    found = index.matches(signature)
                    if found:
                        slot, similarity = found[0]
                        report.duplicates.append(Duplicate(example.line, kept_at[slot], "near", similarity))
                        continue
                    index.add(signature)
                    kept_at.append(example.line)
                seen[key] = example.line
            report.n_kept += 1
            yield example.text

    if out is None:
        for _ in kept_lines():
            pass
    else:
        with atomic_writer(out) as handle:
            for text in kept_lines():
                handle.write(text + "\n")
    return report

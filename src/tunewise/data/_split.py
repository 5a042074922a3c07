"""Deterministic train/validation/test splits with exact sizes.

Sizes come from the ratios by the largest-remainder method (so 80/10/10 of 1,001
examples is 801/100/100, never 800/100/100 plus a lost one), and the assignment is a
seeded shuffle: the same file and seed give the same split on any machine. The file is
read twice and never held in memory; only one byte per example is kept.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise._errors import ConfigError
from tunewise.data._jsonl import load_examples
from tunewise.data._output import atomic_writer

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
DEFAULT_RATIOS: Mapping[str, float] = {"train": 0.8, "validation": 0.1, "test": 0.1}


@dataclass
class SplitReport:
    """Where each split went and how many examples it holds."""

    path: str
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "seed": self.seed, "counts": self.counts, "paths": self.paths}


def split_sizes(n: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Exact sizes summing to ``n``: floors of ``n * ratio``, leftovers to the largest remainders (ties: first)."""
    if not ratios:
        raise ConfigError("give at least one split ratio")
    bad = {k: v for k, v in ratios.items() if not (isinstance(v, int | float) and v >= 0 and math.isfinite(v))}
    if bad:
        raise ConfigError(f"split ratios must be non-negative numbers, got {bad}")
    total = sum(ratios.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(f"split ratios must sum to 1, got {total:g}")
    exact = {name: n * ratio / total for name, ratio in ratios.items()}
    sizes = {name: math.floor(x) for name, x in exact.items()}
    leftover = n - sum(sizes.values())
    order = sorted(ratios, key=lambda name: -(exact[name] - sizes[name]))
    for name in order[:leftover]:
        sizes[name] += 1
    return sizes


def split(
    path: str | Path,
    out_dir: str | Path,
    *,
    ratios: Mapping[str, float] = DEFAULT_RATIOS,
    seed: int = 0,
) -> SplitReport:
    """Split a JSONL file into ``out_dir/<name>.jsonl`` files, one per ratio, deterministically by ``seed``.

    Lines are copied as they are (a BOM and blank lines dropped). Every line must be
    readable JSON; a bad line raises [`tunewise.DataError`][tunewise.DataError] before anything is written.
    """
    names = list(ratios)
    if len(names) > 255:
        raise ConfigError("at most 255 splits")
    for name in names:
        if not _NAME.fullmatch(name):
            raise ConfigError(f"split name {name!r} must be letters, digits, '_', '-' or '.' (it names a file)")
    n = sum(1 for _ in load_examples(path))
    sizes = split_sizes(n, ratios)
    labels = bytearray()
    for index, name in enumerate(names):
        labels.extend([index] * sizes[name])
    random.Random(seed).shuffle(labels)
    out = Path(out_dir)
    report = SplitReport(
        path=str(path), seed=seed, counts=sizes, paths={name: str(out / f"{name}.jsonl") for name in names}
    )
    with ExitStack() as stack:
        handles = [stack.enter_context(atomic_writer(report.paths[name])) for name in names]
        for position, example in enumerate(load_examples(path)):
            if position >= n:
                raise ConfigError(f"{path} grew while it was being split")
            handles[labels[position]].write(example.text + "\n")
    return report

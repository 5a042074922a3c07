"""Split, dedup and leakage through the public API on real files."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunewise import ConfigError, DataError
from tunewise.data import dedup, leakage, split, split_sizes


def _chat(user: str, assistant: str = "ok", system: str = "You are a support bot.") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


_WORDS = [
    "account",
    "password",
    "invoice",
    "refund",
    "shipping",
    "order",
    "address",
    "login",
    "email",
    "phone",
    "billing",
    "plan",
    "upgrade",
    "cancel",
    "delivery",
    "package",
    "warranty",
    "return",
    "exchange",
    "discount",
    "coupon",
    "subscription",
    "renewal",
    "payment",
    "card",
    "bank",
    "transfer",
    "receipt",
    "tax",
    "region",
    "language",
    "notification",
    "privacy",
    "security",
    "device",
    "app",
    "update",
    "error",
    "crash",
    "sync",
    "backup",
]
_rng = random.Random(0)
QUESTIONS = [" ".join(_rng.choice(_WORDS) for _ in range(14)) + " no longer works?" for _ in range(40)]


@pytest.mark.parametrize(
    ("n", "ratios", "sizes"),
    [
        (1001, {"train": 0.8, "validation": 0.1, "test": 0.1}, {"train": 801, "validation": 100, "test": 100}),
        (10, {"train": 0.8, "validation": 0.1, "test": 0.1}, {"train": 8, "validation": 1, "test": 1}),
        (7, {"a": 0.5, "b": 0.5}, {"a": 4, "b": 3}),  # tie in remainders: the first named gets the extra one
        (3, {"train": 0.9, "test": 0.1}, {"train": 3, "test": 0}),
        (0, {"train": 1.0}, {"train": 0}),
    ],
)
def test_split_sizes_by_largest_remainder(n: int, ratios: dict[str, float], sizes: dict[str, int]) -> None:
    assert split_sizes(n, ratios) == sizes


def test_bad_ratios_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"sum to 1, got 0\.9"):
        split_sizes(10, {"train": 0.8, "test": 0.1})
    with pytest.raises(ConfigError, match="non-negative"):
        split_sizes(10, {"train": 1.2, "test": -0.2})


def test_split_names_must_be_file_names(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"split name '\.\./evil'"):
        split(write_jsonl([_chat("x")]), tmp_path, ratios={"../evil": 1.0})


def test_split_is_deterministic_exact_and_lossless(write_jsonl: Callable[..., Path], tmp_path: Path) -> None:
    source = write_jsonl([_chat(q) for q in QUESTIONS] + [_chat("same") for _ in range(3)])
    first = split(source, tmp_path / "a", seed=7)
    again = split(source, tmp_path / "b", seed=7)
    other = split(source, tmp_path / "c", seed=8)
    # 43 x (0.8, 0.1, 0.1) = 34.4, 4.3, 4.3: floors 34, 4, 4 and the one left over goes to the largest remainder
    assert first.counts == {"train": 35, "validation": 4, "test": 4}
    for name in ("train", "validation", "test"):
        assert Path(first.paths[name]).read_bytes() == Path(again.paths[name]).read_bytes()
    assert Path(first.paths["test"]).read_bytes() != Path(other.paths["test"]).read_bytes()
    lines: Counter[str] = Counter()
    for path in first.paths.values():
        lines.update(Path(path).read_text().splitlines())
    assert lines == Counter(source.read_text().splitlines())
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["test.jsonl", "train.jsonl", "validation.jsonl"]


def test_split_refuses_unreadable_lines_before_writing(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(json.dumps(_chat("x")) + "\n{broken\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: invalid JSON"):
        split(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dedup_drops_exact_and_near_duplicates_keeping_the_first(
    write_jsonl: Callable[..., Path], tmp_path: Path
) -> None:
    rows = [_chat(q) for q in QUESTIONS[:5]]
    rows.append(_chat("  " + QUESTIONS[1].upper().replace(" ", "\n ")))  # exact after normalization
    rows.append(_chat(QUESTIONS[2].replace("no longer works", "no longer work")))  # a near duplicate of line 3
    rows.append(_chat(QUESTIONS[3], assistant="a different answer"))  # same prompt: a duplicate on "prompt"
    rows.append({"messages": [{"role": "assistant", "content": "no user turn: never deduplicated"}]})
    rows.append({"messages": [{"role": "assistant", "content": "no user turn: never deduplicated"}]})
    source = write_jsonl(rows)
    report = dedup(source, tmp_path / "clean.jsonl")
    found = [(d.line, d.kept_line, d.kind) for d in report.duplicates]
    assert found == [(6, 2, "exact"), (7, 3, "near"), (8, 4, "exact")]
    assert 0.8 <= report.duplicates[1].similarity < 1.0
    assert (report.n_examples, report.n_kept, report.n_exact, report.n_near) == (10, 7, 2, 1)
    kept = (tmp_path / "clean.jsonl").read_text().splitlines()
    assert kept == [line for i, line in enumerate(source.read_text().splitlines(), 1) if i not in (6, 7, 8)]
    on_conversation = dedup(source, on="conversation", near=False)
    assert [(d.line, d.kept_line) for d in on_conversation.duplicates] == [(6, 2), (10, 9)]


def test_leakage_reports_the_offending_pairs(write_jsonl: Callable[..., Path]) -> None:
    train = write_jsonl([_chat(q) for q in QUESTIONS[:30]], "train.jsonl")
    validation = write_jsonl([_chat(q) for q in QUESTIONS[30:35]] + [_chat(QUESTIONS[3])], "validation.jsonl")
    test_rows = [_chat(q) for q in QUESTIONS[35:]]
    test_rows.append(_chat(QUESTIONS[7].upper()))  # exact after normalization
    test_rows.append(_chat(QUESTIONS[31] + " Thanks!"))  # near duplicate of a validation example
    test = write_jsonl(test_rows, "test.jsonl")
    report = leakage(train, validation, test)
    assert not report.ok
    pairs = [(Path(x.path).stem, x.line, Path(x.other_path).stem, x.other_line, x.kind) for x in report.leaks]
    assert pairs == [
        ("validation", 6, "train", 4, "exact"),
        ("test", 6, "train", 8, "exact"),
        ("test", 7, "validation", 2, "near"),
    ]
    assert report.n_leaks == 3
    assert report.n_leaked == {str(train): 0, str(validation): 1, str(test): 2}
    assert report.n_examples == {str(train): 30, str(validation): 6, str(test): 7}
    assert report.leaks[0].text == QUESTIONS[3][:77] + "..."
    exact_only = leakage(train, validation, test, near=False)
    assert [x.kind for x in exact_only.leaks] == ["exact", "exact"]


def test_leakage_is_clean_on_disjoint_files_and_validates_arguments(write_jsonl: Callable[..., Path]) -> None:
    train = write_jsonl([_chat(q) for q in QUESTIONS[:20]], "train.jsonl")
    test = write_jsonl(
        [_chat(f"Completely unrelated question about topic {i} and nothing else") for i in range(9)], "t.jsonl"
    )
    assert leakage(train, test).ok
    with pytest.raises(ConfigError, match="at least two"):
        leakage(train)
    with pytest.raises(ConfigError, match="same file twice"):
        leakage(train, train)
    with pytest.raises(ConfigError, match="cannot compare on 'answers'"):
        leakage(train, test, on="answers")  # type: ignore[arg-type]

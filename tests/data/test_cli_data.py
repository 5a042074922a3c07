"""``tunewise data ...`` as a user runs it: real subprocesses, exit codes 0/1/2, --json keys."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")
STATS_KEYS = {
    "n_examples",
    "format_errors",
    "n_missing_system",
    "n_missing_user",
    "total_tokens",
    "assistant_tokens",
    "n_over_limit",
    "billed_tokens_per_epoch",
    "default_epochs",
    "billed_training_tokens",
}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "data", *map(str, args)], capture_output=True, text=True, timeout=120)


def _chat(user: str, assistant: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


@pytest.fixture
def train(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    rng = random.Random(1)
    words = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti") for b in ("der", "vax", "qun", "bel")]
    questions = [" ".join(rng.choice(words) for _ in range(10)) + "?" for _ in range(60)]
    path.write_text("".join(json.dumps(_chat(q, f"Answer {i}.")) + "\n" for i, q in enumerate(questions)))
    return path


def test_validate_clean_and_broken_files(train: Path, tmp_path: Path) -> None:
    ok = run("validate", train)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"OK: 60 examples, 60 valid, 0 errors, 0 warnings in {train}"
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(train.read_bytes() + b'{"messages": [{"role": "bot", "content": "x"}]}\n\xff\n')
    result = run("validate", broken)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{broken}:61: messages[0].role: unrecognized role 'bot' [unrecognized_role]",
        f"{broken}:61: messages: example has no assistant message to learn from [example_missing_assistant_message]",
        f"{broken}:62: invalid UTF-8 at byte 1: b'\\xff' [invalid_utf8]",
        f"FAILED: 62 examples, 60 valid, 3 errors, 0 warnings in {broken}",
    ]
    as_json = json.loads(run("validate", broken, "--json").stdout)
    assert as_json["format_errors"] == {
        "unrecognized_role": 1,
        "example_missing_assistant_message": 1,
        "invalid_utf8": 1,
    }
    assert as_json["problems"][2] == {
        "code": "invalid_utf8",
        "severity": "error",
        "path": str(broken),
        "line": 62,
        "field": None,
        "message": "invalid UTF-8 at byte 1: b'\\xff'",
    }


def test_stats_json_has_the_documented_keys(train: Path) -> None:
    result = run("stats", train, "--encoding", "cl100k_base", "--max-tokens", "4096", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= STATS_KEYS
    assert set(data["total_tokens"]) == set(data["assistant_tokens"]) == {"min", "max", "mean", "median", "p10", "p90"}
    assert data["n_examples"] == 60 and data["format_errors"] == {} and data["n_missing_system"] == 60
    assert data["default_epochs"] == 3
    assert data["billed_training_tokens"] == 3 * data["billed_tokens_per_epoch"]
    priced = json.loads(run("stats", train, "--json", "--price-per-1m-training-tokens", "3").stdout)
    assert priced["estimated_cost"] == pytest.approx(priced["billed_training_tokens"] * 3 / 1e6)
    table = run("stats", train, "--model", "gpt-4o-mini", "--price-per-1m-training-tokens", "3")
    assert table.returncode == 0 and "o200k_base" in table.stdout and "estimated training cost" in table.stdout


def test_usage_and_file_errors_exit_2(train: Path, tmp_path: Path) -> None:
    missing = run("validate", tmp_path / "missing.jsonl")
    assert missing.returncode == 2
    missing_file = tmp_path / "missing.jsonl"
    assert missing.stderr.startswith(f"error: Invalid value for 'file': file '{missing_file}' does not exist")
    assert missing.stderr.count("\n") == 1
    bad_encoding = run("stats", train, "--encoding", "p50k_base")
    assert bad_encoding.returncode == 2 and bad_encoding.stderr.count("\n") == 1
    assert run("stats", train, "--max-tokens", "0").returncode == 2
    assert run("split", train).returncode == 2  # --out-dir is required


def test_split_dedup_leakage_convert(train: Path, tmp_path: Path) -> None:
    out = tmp_path / "splits"
    result = run("split", train, "--out-dir", out, "--seed", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"] == {"train": 48, "validation": 6, "test": 6}
    clean = run("leakage", out / "train.jsonl", out / "validation.jsonl", out / "test.jsonl")
    assert clean.returncode == 0 and clean.stdout.startswith("no leakage"), clean.stdout

    leaky = tmp_path / "leaky.jsonl"
    leaky.write_text((out / "train.jsonl").read_text().splitlines()[5] + "\n")
    result = run("leakage", out / "train.jsonl", leaky, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [(x["line"], x["other_line"], x["kind"]) for x in report["leaks"]] == [(1, 6, "exact")]

    doubled = tmp_path / "doubled.jsonl"
    doubled.write_text(train.read_text() + train.read_text().splitlines()[0] + "\n")
    dedup = run("dedup", doubled, "--exact-only", "--out", tmp_path / "dedup.jsonl", "--json")
    assert dedup.returncode == 0, dedup.stderr
    assert json.loads(dedup.stdout)["duplicates"] == [{"line": 61, "kept_line": 1, "kind": "exact", "similarity": 1.0}]
    assert (tmp_path / "dedup.jsonl").read_text() == train.read_text()

    csv_file = tmp_path / "faq.csv"
    csv_file.write_text("q,a\nWhat?,That.\nWhy?,\n")
    converted = run("convert", csv_file, "--out", tmp_path / "faq.jsonl", "--map", "prompt=q,completion=a")
    assert converted.returncode == 1  # one row could not be converted
    assert converted.stdout.splitlines() == [
        f"{csv_file}:3: a: missing or empty completion [missing_content]",
        f"1 of 2 rows (csv) -> {tmp_path / 'faq.jsonl'}",
    ]
    assert run("convert", csv_file, "--out", tmp_path / "x.jsonl", "--map", "oops").returncode == 2


def test_cli_and_import_stay_light() -> None:
    code = (
        "import json, sys\n"
        "import tunewise\n"
        "from tunewise.cli import app\n"
        "heavy = ['tunewise.data', 'tiktoken', 'datasketch', 'numpy', 'transformers']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []
    listing = subprocess.run([CLI, "data", "--help"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0
    for command in ("validate", "stats", "split", "dedup", "leakage", "convert"):
        assert command in listing.stdout


def test_stats_takes_the_training_price_from_the_catalog(train: Path) -> None:
    # gpt-4o-mini trains at $3.00 per 1M billed tokens in the shipped catalog (prices.toml)
    data = json.loads(run("stats", train, "--model", "gpt-4o-mini", "--json").stdout)
    assert data["price_per_1m_training_tokens"] == 3.00
    assert data["estimated_cost"] == pytest.approx(data["billed_training_tokens"] * 3.00 / 1e6)
    unknown = json.loads(run("stats", train, "--model", "o1", "--json").stdout)  # priced, but not for training
    assert unknown["estimated_cost"] is None

"""Converters: Alpaca (JSON array and JSONL), CSV with a field map, ShareGPT; bad rows reported by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise import ConfigError, DataError
from tunewise.data import analyze, convert


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_alpaca_json_array_with_line_numbers(tmp_path: Path) -> None:
    source = tmp_path / "alpaca.json"
    source.write_text(
        "[\n"
        '  {"instruction": "Translate to French", "input": "cheese", "output": "fromage"},\n'
        '  {"instruction": "Say hi", "input": "", "output": "Hi!", "system": "Be kind."},\n'
        '  {"instruction": "No answer",\n   "input": ""},\n'
        '  {"instruction": "Ünïcode ✓", "output": "ok"}\n'
        "]\n",
        encoding="utf-8",
    )
    out = tmp_path / "chat.jsonl"
    report = convert(source, out, system="You translate.")
    assert (report.format, report.n_read, report.n_written) == ("alpaca", 4, 3)
    assert [str(p) for p in report.problems] == [f"{source}:4: output: missing or empty completion [missing_content]"]
    assert _lines(out) == [
        {
            "messages": [
                {"role": "system", "content": "You translate."},
                {"role": "user", "content": "Translate to French\n\ncheese"},
                {"role": "assistant", "content": "fromage"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "Say hi"},
                {"role": "assistant", "content": "Hi!"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "You translate."},
                {"role": "user", "content": "Ünïcode ✓"},
                {"role": "assistant", "content": "ok"},
            ]
        },
    ]
    assert "Ünïcode ✓" in out.read_text(encoding="utf-8")


def test_alpaca_jsonl_with_renamed_fields(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"q": "2+2?", "a": "4"}\n{"q": "no a"}\nnot json\n', encoding="utf-8")
    report = convert(source, tmp_path / "o.jsonl", format="alpaca", fields={"prompt": "q", "completion": "a"})
    assert report.n_written == 1 and not report.ok
    assert [(p.line, p.code) for p in report.problems] == [(2, "missing_content"), (3, "invalid_json")]


def test_csv_with_field_map_converts_and_validates(tmp_path: Path) -> None:
    source = tmp_path / "faq.csv"
    rows = ["question,answer,notes"] + [f'"What is {i}+{i}?","{2 * i}",x' for i in range(12)]
    rows.insert(3, '"multi\nline question",,x')  # spans lines 4-5, empty answer
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "faq.jsonl"
    report = convert(source, out, fields={"prompt": "question", "completion": "answer"}, system="Math tutor.")
    assert (report.format, report.n_read, report.n_written) == ("csv", 13, 12)
    assert [str(p) for p in report.problems] == [f"{source}:4: answer: missing or empty completion [missing_content]"]
    assert _lines(out)[2]["messages"] == [
        {"role": "system", "content": "Math tutor."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert analyze(out).ok


def test_csv_missing_column_and_bad_bytes_are_fatal_one_liners(tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("prompt,answer\na,b\n")
    with pytest.raises(DataError, match=r"x.csv:1: completion: no column 'completion'; columns are 'prompt', 'answer'"):
        convert(source, tmp_path / "o.jsonl")
    source.write_bytes(b"prompt,completion\na,b\n\xff\xfe,c\n")
    with pytest.raises(DataError, match=r"x.csv:\d+: invalid UTF-8"):
        convert(source, tmp_path / "o.jsonl")
    assert not (tmp_path / "o.jsonl").exists()


def test_sharegpt(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    good = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}
    bad = {"conversations": [{"from": "robot", "value": "Hi"}]}
    source.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    report = convert(source, tmp_path / "o.jsonl")
    assert report.format == "sharegpt" and report.n_written == 1
    assert [str(p) for p in report.problems] == [
        f"{source}:2: conversations[0].from: unrecognized speaker 'robot' [unrecognized_role]"
    ]
    assert _lines(tmp_path / "o.jsonl")[0]["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        convert(tmp_path / "none.json", tmp_path / "o.jsonl")
    source = tmp_path / "a.json"
    source.write_text("[]")
    with pytest.raises(ConfigError, match="unknown field"):
        convert(source, tmp_path / "o.jsonl", fields={"answer": "x"})
    with pytest.raises(ConfigError, match="unknown format"):
        convert(source, tmp_path / "o.jsonl", format="parquet")  # type: ignore[arg-type]
    source.write_text('[{"instruction": "a", "output": "b"} {"x": 1}]')
    with pytest.raises(DataError, match=r"a.json:1: expected ',' or ']'"):
        convert(source, tmp_path / "o.jsonl")

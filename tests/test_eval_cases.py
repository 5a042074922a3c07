"""Loading test cases from JSONL and CSV, with file:line:field errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewise import DataError
from tunewise.evaluation import load_cases


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_shapes(tmp_path: Path) -> None:
    path = write(
        tmp_path / "cases.jsonl",
        '{"id": "q1", "input": "What is 2+2?", "reference": "4", "metadata": {"topic": "math"}}\n'
        "\n"
        '{"input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],'
        ' "expected": "Hello"}\n'
        '{"messages": [{"role": "user", "content": "Ping"}, {"role": "assistant", "content": "Pong"}], "lang": "en"}\n'
        '{"id": 7, "input": "json?", "reference": {"a": 1}}\n',
    )
    cases = load_cases(path)
    assert [c.id for c in cases] == ["q1", "line-3", "line-4", "7"]
    assert cases[0].metadata == {"topic": "math"} and cases[0].reference == "4"
    assert [m.role for m in cases[1].input] == ["system", "user"] and cases[1].reference == "Hello"
    assert cases[2].reference == "Pong" and [m.content for m in cases[2].input] == ["Ping"]
    assert cases[2].metadata == {"lang": "en"}
    assert cases[3].reference == '{"a": 1}'
    assert cases[1].question == "Hi"


def test_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "cases.csv", "id,input,reference,topic\na,What is 2+2?,4,math\nb,Say hi,,chat\n")
    cases = load_cases(path)
    assert [(c.id, c.reference, c.metadata) for c in cases] == [
        ("a", "4", {"topic": "math"}),
        ("b", None, {"topic": "chat"}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"input": "ok"}\n{"input": "x",\n', "cases.jsonl:2: invalid JSON"),
        ('{"input": "ok"}\n[1, 2]\n', "cases.jsonl:2: each line must be a JSON object"),
        ('{"reference": "4"}\n', "cases.jsonl:1: input: missing (give 'input' or 'messages')"),
        (
            '{"input": [{"role": "bot", "content": "hi"}]}\n',
            "cases.jsonl:1: input[0].role: Input should be 'system', 'developer', 'user', 'assistant' or 'tool'",
        ),
        (
            '{"id": "a", "input": "x"}\n{"id": "a", "input": "y"}\n',
            "cases.jsonl:2: id: duplicate id 'a' (first on line 1)",
        ),
        ("", "cases.jsonl: no cases in file"),
    ],
)
def test_jsonl_errors_name_file_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "cases.jsonl", text)
    with pytest.raises(DataError) as caught:
        load_cases(path)
    assert str(caught.value).startswith(str(tmp_path / message.split(":")[0]) + message[len("cases.jsonl") :])
    assert "\n" not in str(caught.value)


def test_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cases.csv:1: input: CSV needs a header row with an 'input' column"):
        load_cases(write(tmp_path / "cases.csv", "question,answer\nq,a\n"))
    with pytest.raises(DataError, match=r"cases.csv:3: more values than header columns"):
        load_cases(write(tmp_path / "cases.csv", "input,reference\nq,a\nq,a,extra\n"))
    with pytest.raises(DataError, match=r"missing\.csv: file not found"):
        load_cases(tmp_path / "missing.csv")

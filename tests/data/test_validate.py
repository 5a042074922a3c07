"""Validation: the cookbook's checks by name, with file, line and field; file-level errors; every problem reported."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunewise import DataError
from tunewise.data import Example, analyze, check_example, load_examples, read_jsonl

OK = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}


def codes(data: Any) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in check_example(data, path="t.jsonl", line=7)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], [("data_type", None)]),
        ({"prompt": "x"}, [("example_unrecognized_key", "prompt"), ("missing_messages_list", "messages")]),
        ({"messages": []}, [("missing_messages_list", "messages")]),
        ({"messages": "hi"}, [("missing_messages_list", "messages")]),
        (
            {"messages": [{"content": "x"}, {"role": "assistant", "content": "y"}]},
            [("message_missing_key", "messages[0].role")],
        ),
        (
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]},
            [("message_missing_key", "messages[0].content")],
        ),
        (
            {"messages": [{"role": "user", "content": "x", "foo": 1}, {"role": "assistant", "content": "y"}]},
            [("message_unrecognized_key", "messages[0].foo")],
        ),
        (
            {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]},
            [("unrecognized_role", "messages[0].role")],
        ),
        (
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]},
            [("missing_content", "messages[0]")],
        ),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]},
            [("missing_content", "messages[0]")],
        ),
        ({"messages": [{"role": "user", "content": "x"}]}, [("example_missing_assistant_message", "messages")]),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "weight": 2}]},
            [("invalid_weight", "messages[1].weight")],
        ),
        (
            {"messages": [{"role": "user", "content": "x", "weight": 0}, {"role": "assistant", "content": "y"}]},
            [("invalid_weight", "messages[0].weight")],
        ),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "a"}]}]},
            [("invalid_tool_calls", "messages[1].tool_calls[0].function")],
        ),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}, OK["messages"][1]]},
            [("message_missing_key", "messages[1].tool_call_id")],
        ),
        (
            {"messages": [{"role": {"x": 1}, "content": "x"}, {"role": "assistant", "content": "y"}]},
            [("unrecognized_role", "messages[0].role")],
        ),
        (OK, []),
    ],
)
def test_cookbook_checks_name_the_field(data: Any, expected: list[tuple[str, str | None]]) -> None:
    assert codes(data) == expected


def test_tool_calls_content_parts_and_weights_are_valid() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "Use tools."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
                "weight": 0,
            },
            {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
            {"role": "assistant", "content": "A cat.", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "parameters": {}}}],
        "parallel_tool_calls": False,
    }
    assert check_example(example) == []


def _cookbook_format_errors(dataset: list[Any]) -> dict[str, int]:
    """The cookbook's validation loop (chat_finetuning_data_prep), kept as the oracle for plain chat data."""
    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1
    return dict(format_errors)


def test_error_counts_agree_with_the_cookbook_on_plain_chat(write_jsonl: Callable[..., Path]) -> None:
    bad_rows: list[Any] = [
        "just a string",
        {"messages": []},
        {"messages": [{"role": "user", "content": "x"}]},
        {"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"role": "user", "content": "x", "extra": 1}, {"role": "assistant", "content": "y"}]},
        {"messages": [{"content": "x"}, {"role": "assistant", "content": "y"}]},
    ]
    rows = [OK] * 12 + bad_rows
    report = analyze(write_jsonl(rows))
    expected = _cookbook_format_errors(rows)
    # Where the cookbook counts one missing key as two problems (missing key, then bad role), so do we.
    assert report.format_errors == expected | {"unrecognized_role": expected["unrecognized_role"] - 1}
    assert report.n_examples == 19 and report.n_valid == 12 and not report.ok


def test_every_problem_of_every_line_is_reported(write_jsonl: Callable[..., Path]) -> None:
    rows = [OK] * 10 + [{"messages": [{"role": "bot", "content": ""}]}]
    report = analyze(write_jsonl(rows))
    assert [str(p) for p in report.problems] == [
        f"{report.path}:11: messages[0].role: unrecognized role 'bot' [unrecognized_role]",
        f"{report.path}:11: messages[0]: content must be non-empty text, got a string [missing_content]",
        f"{report.path}:11: messages: example has no assistant message to learn from "
        "[example_missing_assistant_message]",
        f"{report.path}: warning: 11 examples; OpenAI recommends at least 50 [few_examples]",
    ]


@pytest.mark.parametrize(("n", "code", "severity"), [(9, "too_few_examples", "error"), (49, "few_examples", "warning")])
def test_example_count_limits(write_jsonl: Callable[..., Path], n: int, code: str, severity: str) -> None:
    report = analyze(write_jsonl([OK] * n))
    assert [(p.code, p.severity, p.line) for p in report.problems] == [(code, severity, None)]
    assert report.ok is (severity == "warning")
    assert analyze(write_jsonl([OK] * 50)).problems == []


def _raw(tmp_path: Path, data: bytes) -> list[str]:
    path = tmp_path / "raw.jsonl"
    path.write_bytes(data)
    return [str(p) for p in analyze(path).problems if p.code not in ("too_few_examples",)]


GOOD = json.dumps(OK).encode()
HELLO_COLUMN = GOOD.index(b'"Hello') + 1


def test_file_level_failures_are_one_clear_line(tmp_path: Path) -> None:
    p = str(tmp_path / "raw.jsonl")
    assert _raw(tmp_path, b"") == [f"{p}: file is empty: no examples [empty_file]"]
    assert _raw(tmp_path, b"\xef\xbb\xbf" + GOOD + b"\n") == [
        f"{p}:1: warning: file starts with a UTF-8 byte-order mark; it was ignored [bom]"
    ]
    assert _raw(tmp_path, GOOD + b"\n" + GOOD[:-5]) == [
        f"{p}:2: invalid JSON at column {HELLO_COLUMN}: Unterminated string starting at "
        "(truncated last line?) [invalid_json]"
    ]
    assert _raw(tmp_path, GOOD + b"\n\xff\xfeabc\n") == [
        f"{p}:2: invalid UTF-8 at byte 1: b'\\xff\\xfeab' [invalid_utf8]"
    ]
    assert _raw(tmp_path, b"PK\x03\x04\x00\x00garbage\n" + GOOD + b"\n") == [
        f"{p}:1: NUL byte at column 5: binary data, not JSON text [binary_data]"
    ]
    assert _raw(tmp_path, (GOOD.decode() + "\n").encode("utf-16") * 3) == [
        f"{p}:1: file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8 [invalid_utf8]"
    ]
    assert _raw(tmp_path, GOOD + b"\n\n" + GOOD + b"\n") == [f"{p}:2: warning: blank line [blank_line]"]
    assert _raw(tmp_path, b'{"messages": NaN}\n') == [f"{p}:1: NaN is not valid JSON [invalid_json]"]
    assert _raw(tmp_path, b"[" * 100_000 + b"\n") == [f"{p}:1: JSON nested too deeply to read [invalid_json]"]


@pytest.mark.slow
def test_a_100_megabyte_line_is_skipped_without_loading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as f:
        f.write(GOOD + b"\n")
        f.write(b'{"messages": [{"role": "user", "content": "')
        chunk = b"a" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write(b'"}]}\n')
        f.write(GOOD + b"\n")
    report = analyze(path)
    size = 100 * (1 << 20) + len(b'{"messages": [{"role": "user", "content": "') + len(b'"}]}\n')
    assert [str(p) for p in report.errors] == [
        f"{path}:2: line is {size:,} bytes, over the 33,554,432-byte limit; skipped [line_too_long]",
        f"{path}: 3 examples; OpenAI needs at least 10 [too_few_examples]",
    ]
    assert report.n_examples == 3 and report.n_valid == 2


def test_missing_file_and_directory_raise_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.jsonl: no such file$"):
        analyze(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="is a directory"):
        read_jsonl(tmp_path)


def test_strict_loader_stops_at_the_first_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(GOOD + b"\n\n" + GOOD + b"\n{oops\n" + GOOD + b"\n")
    seen: list[int] = []
    with pytest.raises(DataError, match=r"d.jsonl:4: invalid JSON at column 2"):
        seen.extend(e.line for e in load_examples(path))
    assert seen == [1, 3]


def test_example_messages_are_core_messages(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(GOOD + b"\n" + b'{"messages": [{"role": "user", "content": "x", "weight": 3}]}\n')
    first, second = [item for item in read_jsonl(path) if isinstance(item, Example)]
    assert [m.role for m in first.messages()] == ["user", "assistant"]
    with pytest.raises(DataError, match=r"d.jsonl:2: messages\[0\].weight: "):
        second.messages()

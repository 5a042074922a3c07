"""Property tests: 10,000 generated malformed files through the loader and validator.

Whatever the bytes, ``analyze`` returns a report (no exception), every line-level
problem names a line that exists, every problem prints as one line, and each line is
counted at most once as an example.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise.data import Problem, TiktokenCounter, analyze, read_jsonl

pytestmark = pytest.mark.slow
COUNTER = TiktokenCounter("o200k_base")
FILE_LEVEL = {"empty_file", "too_few_examples", "few_examples"}
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "18C"},
            {"role": "assistant", "content": "18C and sunny.", "weight": 1},
        ]
    },
]
VALID_BYTES = b"".join(json.dumps(v).encode() + b"\n" for v in VALID) * 3

ROLES: list[Any] = ["system", "user", "assistant", "tool", "developer", "bot", "", "USER", None, 1, ["user"], {}]
KEYS = ["role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "x", "\r", ""]


def _value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value; hypothesis supplies the seed (its own recursive strategies are slow to draw)."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, -1, 2, 10**30, 0.5])
    if kind == 3:
        return rng.choice(["", " ", "hi", "<|endoftext|>", "\ud800", "é\n\t", "x" * 50])
    if kind in (4, 5):
        return rng.choice(ROLES)
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return _message(rng, depth + 1)
    return {rng.choice(KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _message(rng: random.Random, depth: int) -> Any:
    message = {key: _value(rng, depth + 1) for key in rng.sample(KEYS, rng.randrange(5))}
    if rng.random() < 0.6:
        message["role"] = rng.choice(ROLES)
    if rng.random() < 0.6:
        message["content"] = rng.choice(["ok", "", None, [], [{"type": "text", "text": "a"}], [{"type": 1}], 3])
    return message


def _example(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return _value(rng)
    example: dict[str, Any] = {}
    if rng.random() < 0.9:
        example["messages"] = [_message(rng, 1) for _ in range(rng.randrange(5))] if rng.random() < 0.9 else _value(rng)
    if rng.random() < 0.2:
        example[rng.choice(["tools", "extra", "functions"])] = _value(rng)
    return example


FOLDER = Path(tempfile.mkdtemp(prefix="tunewise-fuzz-"))


def _check(data: bytes) -> None:
    path = FOLDER / "fuzz.jsonl"
    path.write_bytes(data)
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    report = analyze(path, counter=COUNTER, max_problems=10_000)
    items = list(read_jsonl(path))
    assert report.n_examples <= n_lines
    assert report.n_valid <= report.n_examples
    assert report.n_problems == len(report.problems)
    for problem in report.problems:
        assert isinstance(problem, Problem)
        text = str(problem)
        assert "\n" not in text and "\r" not in text, text
        assert text.startswith(str(path))
        if problem.code in FILE_LEVEL:
            assert problem.line is None
        else:
            assert problem.line is not None and 1 <= problem.line <= n_lines, text
    example_lines = [item.line for item in items if not isinstance(item, Problem)]
    assert len(example_lines) == len(set(example_lines))


@settings(FUZZ, max_examples=3000)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(FUZZ, max_examples=3000)
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID_BYTES)), st.sampled_from(["flip", "cut", "insert", "delete"]), st.binary()),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_files(edits: list[tuple[int, str, bytes]]) -> None:
    data = bytearray(VALID_BYTES)
    specials = [b"\xef\xbb\xbf", b"\x00", b"\xff", b"\xc3", b"\n", b"\r\n", b'"', b"}", b"\\u", b"\xed\xa0\x80"]
    for position, action, blob in edits:
        at = min(position, len(data))
        if action == "flip" and at < len(data):
            data[at] ^= 0xFF
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = blob or specials[position % len(specials)]
        elif action == "delete":
            del data[at : at + 1 + len(blob)]
    _check(bytes(data))


@settings(FUZZ, max_examples=3000)
@given(st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_structurally_wrong_examples(seed: int, n_rows: int) -> None:
    rng = random.Random(seed)
    _check(b"".join(json.dumps(_example(rng)).encode() + b"\n" for _ in range(n_rows)))


@settings(FUZZ, max_examples=1000)
@given(
    st.lists(
        st.sampled_from(
            [
                b"\xef\xbb\xbf",
                b"\n",
                b"   \n",
                b"\x00\x01\x02",
                b"\xff\xfe",
                b"[" * 5000,
                b"1" * 5000,
                b"NaN",
                b'{"messages": [',
                b'{"messages": []}',
                b'"\\ud800"',
                json.dumps(VALID[0]).encode(),
                json.dumps(VALID[1]).encode(),
            ]
        ),
        max_size=12,
    )
)
def test_pathological_pieces(pieces: list[bytes]) -> None:
    _check(b"".join(pieces))

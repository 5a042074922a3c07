"""Property test: converters never raise anything but a one-line DataError, whatever the input bytes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunewise import DataError
from tunewise.data import Problem, convert

FOLDER = Path(tempfile.mkdtemp(prefix="tunewise-convert-fuzz-"))
PIECES = [
    b"[",
    b"]",
    b",",
    b"{",
    b"}",
    b'"instruction"',
    b'"output"',
    b'"conversations"',
    b'"from"',
    b'"value"',
    b":",
    b'"x"',
    b"\n",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\x00",
    b"prompt,completion\n",
    b'"a\nb"',
    b"1e999",
    b"null",
]


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([".json", ".jsonl", ".csv", ".tsv"]), st.lists(st.sampled_from(PIECES) | st.binary(max_size=8)))
def test_converters_fail_cleanly(suffix: str, pieces: list[bytes]) -> None:
    source = FOLDER / f"in{suffix}"
    source.write_bytes(b"".join(pieces))
    try:
        report = convert(source, FOLDER / "out.jsonl")
    except DataError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(source))
        return
    assert report.n_written <= report.n_read
    for problem in report.problems:
        assert isinstance(problem, Problem) and "\n" not in str(problem)

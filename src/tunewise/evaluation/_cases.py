"""Test cases: an input conversation, a reference answer and metadata, from JSONL or CSV.

JSONL lines take any of these shapes::

    {"id": "q1", "input": "What is 2+2?", "reference": "4", "metadata": {"topic": "math"}}
    {"input": [{"role": "user", "content": "Hi"}], "reference": "Hello!"}
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

(the last: chat fine-tuning format, whose final assistant message is the reference).
``expected`` and ``ideal`` are accepted for ``reference``. CSV files need ``input`` and
may have ``id`` and ``reference``; other columns become metadata.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise._config_error import first_problem
from tunewise._errors import DataError
from tunewise._jsonl import iter_jsonl_objects
from tunewise._types import Message, as_messages

_REFERENCE_KEYS = ("reference", "expected", "ideal")
_KNOWN = {"id", "input", "messages", "metadata", *_REFERENCE_KEYS}


class Case(BaseModel):
    """One test case. ``id`` keys results in the run store, so keep it stable across edits."""

    model_config = ConfigDict(frozen=True)

    id: str
    input: tuple[Message, ...] = Field(min_length=1)
    reference: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(
        cls,
        input: str | Sequence[Message | dict[str, Any]],
        reference: str | None = None,
        *,
        id: str,
        **metadata: Any,
    ) -> Case:
        return cls(id=id, input=as_messages(input), reference=reference, metadata=metadata)

    @property
    def question(self) -> str:
        """The last user message's text (what a report shows as the case)."""
        for message in reversed(self.input):
            if message.role == "user" and message.content:
                return message.content
        return self.input[-1].content or ""


def case_from_mapping(row: Mapping[str, Any], *, default_id: str) -> Case:
    """One case from a JSON object; raises ``ValueError("field: reason")`` for bad fields."""
    unknown = set(row) - _KNOWN
    metadata = dict(row.get("metadata") or {})
    if not isinstance(metadata, dict):
        raise ValueError("metadata: must be an object")
    for key in sorted(unknown):  # unknown top-level keys are kept as metadata, not dropped
        metadata[key] = row[key]
    reference = next((row[k] for k in _REFERENCE_KEYS if row.get(k) is not None), None)
    if "input" in row:
        raw = row["input"]
        if not isinstance(raw, str | list) or not raw:
            raise ValueError("input: must be a non-empty string or list of messages")
        messages = _messages(raw, "input")
    elif "messages" in row:
        raw = row["messages"]
        if not isinstance(raw, list) or not raw:
            raise ValueError("messages: must be a non-empty list")
        messages = _messages(raw, "messages")
        if reference is None and messages[-1].role == "assistant":
            reference, messages = messages[-1].content, messages[:-1]
        if not messages:
            raise ValueError("messages: no input left before the final assistant message")
    else:
        raise ValueError("input: missing (give 'input' or 'messages')")
    if reference is not None and not isinstance(reference, str):
        reference = json.dumps(reference) if isinstance(reference, dict | list) else str(reference)
    case_id = row.get("id", default_id)
    if not isinstance(case_id, str | int) or str(case_id) == "":
        raise ValueError("id: must be a non-empty string or integer")
    return Case(id=str(case_id), input=messages, reference=reference, metadata=metadata)


def _messages(raw: str | list[Any], field: str) -> tuple[Message, ...]:
    if isinstance(raw, str):
        return (Message.user(raw),)
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(item if isinstance(item, Message) else Message.model_validate(item))
        except ValidationError as exc:
            loc, message, _ = first_problem(exc)
            raise ValueError(f"{field}[{i}]{'.' + loc if loc else ''}: {message}") from None
    return tuple(out)


def _located(exc: ValueError, path: Path, line: int) -> DataError:
    text = str(exc)
    field, sep, reason = text.partition(": ")
    if sep and " " not in field:
        return DataError(reason, path=path, line=line, field=field)
    return DataError(text, path=path, line=line)


def load_cases(path: str | Path) -> list[Case]:
    """Cases from a ``.jsonl`` or ``.csv`` file; errors name file, line and field.

    Ids default to the line number (``line-7``); duplicate ids are an error.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError("file not found", path=file)
    cases = list(_csv_cases(file)) if file.suffix.lower() == ".csv" else list(_jsonl_cases(file))
    if not cases:
        raise DataError("no cases in file", path=file)
    return cases


def _check_unique(cases: Iterable[tuple[int, Case]], path: Path) -> Iterable[Case]:
    seen: dict[str, int] = {}
    for line, case in cases:
        if case.id in seen:
            raise DataError(
                f"duplicate id {case.id!r} (first on line {seen[case.id]})", path=path, line=line, field="id"
            )
        seen[case.id] = line
        yield case


def _jsonl_cases(path: Path) -> Iterable[Case]:
    def rows() -> Iterable[tuple[int, Case]]:
        for number, row in iter_jsonl_objects(path):
            try:
                yield number, case_from_mapping(row, default_id=f"line-{number}")
            except ValueError as exc:
                raise _located(exc, path, number) from None

    return _check_unique(rows(), path)


def _csv_cases(path: Path) -> Iterable[Case]:
    def rows() -> Iterable[tuple[int, Case]]:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or "input" not in reader.fieldnames:
                raise DataError("CSV needs a header row with an 'input' column", path=path, line=1, field="input")
            for row in reader:
                number = reader.line_num
                if None in row:
                    raise DataError("more values than header columns", path=path, line=number)
                data: dict[str, Any] = {k: v for k, v in row.items() if v not in (None, "")}
                meta = {k: data.pop(k) for k in list(data) if k not in _KNOWN}
                if "metadata" in data:
                    raise DataError("a CSV column may not be named 'metadata'", path=path, line=1, field="metadata")
                data["metadata"] = meta
                try:
                    yield number, case_from_mapping(data, default_id=f"line-{number}")
                except ValueError as exc:
                    raise _located(exc, path, number) from None

    return _check_unique(rows(), path)

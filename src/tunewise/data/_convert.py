"""Converters from instruction-tuning formats to OpenAI chat JSONL.

Supported inputs: Alpaca (``instruction``/``input``/``output``, as a JSON array or
JSONL), CSV with prompt/completion columns, and ShareGPT (``conversations`` of
``from``/``value`` turns). Column and key names are remapped with ``fields``. A row
that cannot be converted is skipped and reported with its line and field; the rows that
could be converted are written, and the output file appears only once complete.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunewise._errors import ConfigError, DataError
from tunewise.data._jsonl import Example, read_jsonl
from tunewise.data._output import atomic_writer
from tunewise.data._problems import Problem

Format = Literal["auto", "alpaca", "csv", "sharegpt"]
FORMATS = ("alpaca", "csv", "sharegpt")

_DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "alpaca": {"prompt": "instruction", "input": "input", "completion": "output", "system": "system"},
    "csv": {"prompt": "prompt", "input": "input", "completion": "completion", "system": "system"},
    "sharegpt": {"conversations": "conversations", "from": "from", "value": "value"},
}
_SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
}


@dataclass
class ConvertReport:
    """How many rows were read and written, and every row skipped with its reason."""

    path: str
    out: str
    format: str
    n_read: int = 0
    n_written: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "out": self.out,
            "format": self.format,
            "ok": self.ok,
            "n_read": self.n_read,
            "n_written": self.n_written,
            "problems": [p.to_dict() for p in self.problems],
        }


def detect_format(path: str | Path) -> str:
    """The format of the file at ``path``: ``csv``, ``chat``, ``sharegpt`` or ``alpaca``.

    ``csv`` for .csv/.tsv files; otherwise by the keys of the first record: ``chat`` (``messages``),
    ``sharegpt`` (``conversations``) or ``alpaca`` (anything else; its fields are checked row by row).
    """
    p = Path(path)
    if p.suffix.lower() in (".csv", ".tsv"):
        return "csv"
    first = _first_record(p)
    if isinstance(first, dict) and "messages" in first:
        return "chat"
    if isinstance(first, dict) and "conversations" in first:
        return "sharegpt"
    return "alpaca"


def _first_record(path: Path) -> Any:
    """The first record of a JSON array or JSONL file, or ``None`` when it cannot be read."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path=path) from None
    try:
        if head.startswith(b"["):
            return next((item for _, item in _json_array(path)), None)
        return next((item.data for item in read_jsonl(path) if isinstance(item, Example)), None)
    except DataError:
        return None  # unreadable: the conversion itself reports where


def _text(row: Mapping[str, Any], key: str | None) -> str | None:
    if key is None:
        return None
    value = row.get(key)
    return value if isinstance(value, str) and value.strip() else None


class _Converter:
    def __init__(self, name: str, fmt: str, fields: Mapping[str, str], system: str | None) -> None:
        self.name = name
        self.fmt = fmt
        self.fields = {**_DEFAULT_FIELDS[fmt], **fields}
        unknown = set(fields) - set(_DEFAULT_FIELDS[fmt])
        if unknown:
            raise ConfigError(
                f"unknown field(s) {', '.join(sorted(unknown))} for {fmt}; known: {', '.join(_DEFAULT_FIELDS[fmt])}"
            )
        self.system = system

    def problem(self, line: int | None, field: str | None, message: str, code: str = "convert_failed") -> Problem:
        return Problem(code, message, self.name, line, field)

    def instruction(self, row: Any, line: int | None) -> dict[str, Any] | Problem:
        if not isinstance(row, dict):
            return self.problem(line, None, f"expected an object, got {type(row).__name__}", "data_type")
        f = self.fields
        prompt, completion = _text(row, f["prompt"]), _text(row, f["completion"])
        if prompt is None:
            return self.problem(line, f["prompt"], "missing or empty prompt", "missing_content")
        if completion is None:
            return self.problem(line, f["completion"], "missing or empty completion", "missing_content")
        extra = _text(row, f.get("input"))
        system = _text(row, f.get("system")) or self.system
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": f"{prompt}\n\n{extra}" if extra else prompt})
        messages.append({"role": "assistant", "content": completion})
        return {"messages": messages}

    def sharegpt(self, row: Any, line: int | None) -> dict[str, Any] | Problem:
        f = self.fields
        turns = row.get(f["conversations"]) if isinstance(row, dict) else None
        if not isinstance(turns, list) or not turns:
            return self.problem(line, f["conversations"], "expected a non-empty list of turns", "missing_messages_list")
        messages = [{"role": "system", "content": self.system}] if self.system else []
        for i, turn in enumerate(turns):
            where = f"{f['conversations']}[{i}]"
            who = turn.get(f["from"]) if isinstance(turn, dict) else None
            role = _SHAREGPT_ROLES.get(who.lower()) if isinstance(who, str) else None
            if role is None:
                return self.problem(line, f"{where}.{f['from']}", f"unrecognized speaker {who!r}", "unrecognized_role")
            value = _text(turn, f["value"])
            if value is None:
                return self.problem(line, f"{where}.{f['value']}", "missing or empty text", "missing_content")
            messages.append({"role": role, "content": value})
        if not any(m["role"] == "assistant" for m in messages):
            return self.problem(line, f["conversations"], "no assistant turn", "example_missing_assistant_message")
        return {"messages": messages}

    def convert(self, row: Any, line: int | None) -> dict[str, Any] | Problem:
        return self.sharegpt(row, line) if self.fmt == "sharegpt" else self.instruction(row, line)


def _json_array(path: Path) -> Iterator[tuple[int, Any]]:
    """Items of a JSON array file with the line each starts on (``json.load`` would lose lines)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"invalid UTF-8 at byte {exc.start + 1}", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path=path) from None
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    line = 1 + text.count("\n", 0, pos)

    def skip(at: int) -> int:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        return at

    while True:
        start = skip(pos)
        line += text.count("\n", pos, start)
        if start < len(text) and text[start] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError) as exc:
            column = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise DataError(f"invalid JSON{column}", path=path, line=line) from None
        yield line, item
        line += text.count("\n", start, end)
        after = skip(end)
        line += text.count("\n", end, after)
        if after < len(text) and text[after] == ",":
            pos = after + 1
        elif after < len(text) and text[after] == "]":
            return
        else:
            raise DataError("expected ',' or ']' between array items", path=path, line=line)


def _json_rows(path: Path) -> Iterator[tuple[int | None, Any] | Problem]:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        yield from _json_array(path)
        return
    for item in read_jsonl(path):
        yield (item.line, item.data) if isinstance(item, Example) else item


def _csv_rows(path: Path, fields: Mapping[str, str]) -> Iterator[tuple[int | None, Any] | Problem]:
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    line = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, dialect=dialect)
            header = reader.fieldnames or []
            for needed in ("prompt", "completion"):
                if fields[needed] not in header:
                    raise DataError(
                        f"no column {fields[needed]!r}; columns are {', '.join(map(repr, header)) or 'none'}",
                        path=path,
                        line=1,
                        field=fields[needed],
                    )
            line = reader.line_num + 1
            for row in reader:
                yield line, row
                line = reader.line_num + 1
    except UnicodeDecodeError:
        raise DataError("invalid UTF-8", path=path, line=line) from None
    except csv.Error as exc:
        raise DataError(f"unreadable CSV: {exc}", path=path, line=line) from None


def _dumps(example: dict[str, Any]) -> str:
    text = json.dumps(example, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from "\ud800"-style escapes: keep them escaped
        return json.dumps(example)
    return text


def convert(
    path: str | Path,
    out: str | Path,
    *,
    format: Format = "auto",
    fields: Mapping[str, str] | None = None,
    system: str | None = None,
) -> ConvertReport:
    """Convert an instruction dataset to chat JSONL (``{"messages": [...]}`` per line).

    Args:
        path: the dataset to convert: Alpaca-style JSON or JSONL, ShareGPT, or CSV/TSV.
        out: the chat JSONL file to write (not ``path`` itself).
        format: ``alpaca``, ``csv``, ``sharegpt`` or ``auto`` (by extension, then by the keys of
            the first record; a file already in chat format is an error, not converted again).
        fields: renames, e.g. ``{"prompt": "question", "completion": "answer"}`` for a
            CSV, or ``{"prompt": "instruction", "completion": "response"}`` for Alpaca-like JSON.
        system: a system message for every example that has none of its own.

    Raises:
        DataError: when the file cannot be read at all (bad UTF-8 in a CSV, a broken
            JSON array, missing CSV columns), is already chat JSONL, or has no row that could
            be converted (then nothing is written). Bad rows are skipped and listed in the report.
        ConfigError: an unknown format, or ``out`` is the input file.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError("no such file" if not source.exists() else "not a regular file", path=source)
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of auto, {', '.join(FORMATS)}")
    target = Path(out)
    if target.exists() and target.resolve() == source.resolve():
        raise ConfigError(f"the output {target} is the input file; write the converted file elsewhere")
    fmt = detect_format(source) if format == "auto" else format
    if fmt == "chat":
        raise DataError(
            "already in chat format (its records have 'messages'): nothing to convert; "
            "check it with 'tunewise data validate'",
            path=source,
        )
    converter = _Converter(str(source), fmt, fields or {}, system)
    report = ConvertReport(path=str(source), out=str(out), format=fmt)
    rows = _csv_rows(source, converter.fields) if fmt == "csv" else _json_rows(source)
    with atomic_writer(out) as handle:
        for row in rows:
            if isinstance(row, Problem):
                report.problems.append(row)
                if row.severity == "error" and row.line is not None:
                    report.n_read += 1
                continue
            report.n_read += 1
            line, data = row
            result = converter.convert(data, line)
            if isinstance(result, Problem):
                report.problems.append(result)
                continue
            handle.write(_dumps(result) + "\n")
            report.n_written += 1
        if report.n_written == 0:  # never leave an empty file that looks like a result
            first = next((p for p in report.problems if p.severity == "error"), None)
            why = f"; the first: {first}" if first is not None else ""
            raise DataError(f"no row could be converted as {fmt} ({report.n_read} read){why}", path=source)
    return report

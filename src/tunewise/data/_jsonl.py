"""Streaming JSONL reading that never raises on bad bytes.

A file is read line by line in binary, so memory stays constant however large the
file is, and every failure a real-world file can have (invalid UTF-8, a byte-order
mark, NUL bytes, a truncated last line, a 100 MB line, an empty file) becomes a
[`Problem`][tunewise.data.Problem] naming the line, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tunewise._config_error import first_problem
from tunewise._errors import DataError
from tunewise.data._problems import Problem

if TYPE_CHECKING:
    from tunewise._types import Message

#: Lines longer than this are reported as ``line_too_long`` and skipped without being held in memory.
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Example:
    """One parsed JSONL line: the decoded JSON value, where it came from, and its text."""

    path: str
    line: int
    data: Any
    text: str

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def messages(self) -> tuple[Message, ...]:
        """The example's ``messages`` as core [`tunewise.Message`][tunewise.Message] objects.

        Raises:
            DataError: naming file, line and field when the example is not valid chat.
        """
        from pydantic import ValidationError

        from tunewise._types import Message

        raw = self.data.get("messages") if isinstance(self.data, dict) else None
        if not isinstance(raw, list):
            raise DataError("expected a list of messages", path=self.path, line=self.line, field="messages")
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(Message.model_validate(item))
            except ValidationError as exc:
                loc, message, _ = first_problem(exc)
                field = f"messages[{i}]" + (f".{loc}" if loc and not loc.startswith("[") else loc)
                raise DataError(message, path=self.path, line=self.line, field=field) from None
        return tuple(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _decode_json(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _open(path: str | Path) -> IO[bytes]:
    p = Path(path)
    try:
        return p.open("rb")
    except FileNotFoundError:
        raise DataError("no such file", path=p) from None
    except IsADirectoryError:
        raise DataError("is a directory, not a file", path=p) from None
    except PermissionError:
        raise DataError("permission denied", path=p) from None
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path=p) from None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_jsonl(path: str | Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Example | Problem]:
    """Yield each non-blank line of a JSONL file as an [`Example`][tunewise.data.Example] or a `Problem`.

    The file is opened at once (so a missing file raises [`tunewise.DataError`][tunewise.DataError]
    here, not on first iteration) and read lazily. Blank lines are reported as
    warnings, a leading BOM as a warning (and skipped), an empty file as an error.
    """
    handle = _open(path)
    return _lines(handle, str(path), max_line_bytes)


def _lines(handle: IO[bytes], name: str, max_line_bytes: int) -> Iterator[Example | Problem]:
    with handle:
        number = 0
        seen_any = False
        seen_content = False  # a line that is not blank: an example, or a broken one
        while True:
            raw = handle.readline(max_line_bytes + 1)
            if not raw:
                break
            number += 1
            seen_any = True
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # drain the rest of the line in chunks; never hold it whole
                    rest = handle.readline(_CHUNK)
                    size += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                seen_content = True
                yield Problem(
                    "line_too_long",
                    f"line is {size:,} bytes, over the {max_line_bytes:,}-byte limit; skipped",
                    name,
                    number,
                )
                continue
            if number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                yield Problem(
                    "invalid_utf8",
                    "file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8",
                    name,
                    1,
                )
                return
            ends_with_newline = raw.endswith(b"\n")
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
                yield Problem(
                    "bom", "file starts with a UTF-8 byte-order mark; it was ignored", name, 1, severity="warning"
                )
            item = _parse_line(raw, number, name, complete=ends_with_newline)
            seen_content = seen_content or not (isinstance(item, Problem) and item.code == "blank_line")
            yield item
        if not seen_any:
            yield Problem("empty_file", "file is empty: no examples", name)
        elif not seen_content:
            yield Problem("empty_file", "file holds only blank lines: no examples", name)


def _parse_line(raw: bytes, number: int, name: str, *, complete: bool) -> Example | Problem:
    """One line's bytes (its newline stripped) as an example, or the problem that stops it being one."""
    if b"\x00" in raw:
        column = raw.index(b"\x00") + 1
        return Problem("binary_data", f"NUL byte at column {column}: binary data, not JSON text", name, number)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 4]
        return Problem("invalid_utf8", f"invalid UTF-8 at byte {exc.start + 1}: {bad!r}", name, number)
    if not text or text.isspace():
        return Problem("blank_line", "blank line", name, number, severity="warning")
    try:
        data = _decode_json(text)
    except json.JSONDecodeError as exc:
        hint = "" if complete else " (truncated last line?)"
        return Problem("invalid_json", f"invalid JSON at column {exc.colno}: {exc.msg}{hint}", name, number)
    except RecursionError:
        return Problem("invalid_json", "JSON nested too deeply to read", name, number)
    except ValueError as exc:  # NaN/Infinity, integers too long to convert
        return Problem("invalid_json", _short(str(exc).splitlines()[0]), name, number)
    return Example(name, number, data, text)


def load_examples(path: str | Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Example]:
    """Yield the examples of a JSONL file, raising `tunewise.DataError` at the first unreadable line.

    For tools that need every line readable (split, dedup, leakage); warnings such as
    a BOM or blank lines are tolerated. Use [`read_jsonl()`][tunewise.data.read_jsonl] or
    [`tunewise.data.analyze()`][tunewise.data.analyze] to see every problem at once.
    """
    for item in read_jsonl(path, max_line_bytes=max_line_bytes):
        if isinstance(item, Problem):
            if item.severity == "error":
                raise item.to_error()
            continue
        yield item

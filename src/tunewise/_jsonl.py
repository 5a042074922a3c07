"""Reading small JSONL files of objects (cases, examples, documents) with located errors.

Fine-tune data has its own streaming, fault-tolerant loader (``tunewise.data``); this one
is for configuration-sized files, where the first bad line stops with a one-line
[`DataError`][tunewise.DataError] naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunewise._errors import DataError


def iter_jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of ``path``."""
    if not path.is_file():
        raise DataError("file not found", path=path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=path) from None
    with handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"invalid UTF-8 at byte {exc.start}", path=path, line=number) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg} at column {exc.colno}", path=path, line=number) from None
            if not isinstance(row, dict):
                raise DataError("each line must be a JSON object", path=path, line=number)
            yield number, row

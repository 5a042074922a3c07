"""``--json`` output: always strict JSON, which any parser reads (no ``NaN`` or ``Infinity``)."""

from __future__ import annotations

import json
import math
from typing import Any

import typer


def strict(data: Any) -> Any:
    """``data`` with every non-finite float (NaN, infinities) replaced by ``None``: JSON has no such numbers."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [strict(value) for value in data]
    return data


def dumps(data: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text for ``data``; text that is not valid UTF-8 (lone surrogates) stays escaped."""
    clean = strict(data)
    text = json.dumps(clean, indent=indent, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(clean, indent=indent, allow_nan=False)
    return text


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """Print ``data`` as strict JSON on stdout."""
    typer.echo(dumps(data, indent=indent))

"""Config files and their errors.

A pydantic ``ValidationError`` becomes the one-line `ConfigError` a user reads, and the one TOML
reader the configs share lives here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError

if TYPE_CHECKING:
    from pydantic import ValidationError


def field_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a user writes it: ``messages[0].content``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def first_problem(exc: ValidationError) -> tuple[str, str, str]:
    """``(field path, one-line message, pydantic error type)`` of the problem to fix first.

    A misspelt field is both unknown ("extra") and, if required, missing: the misspelling is
    named, since it is what to fix. The message loses pydantic's ``Value error, `` preamble and
    any line breaks.
    """
    errors = exc.errors()
    first = next((error for error in errors if error["type"] == "extra_forbidden"), errors[0])
    message = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    return field_path(first["loc"]), message, str(first["type"])


def config_error(exc: ValidationError, where: str, *, known: Iterable[str] | None = None) -> ConfigError:
    """A one-line ConfigError for the first problem in ``exc``: ``{where}.{field}: {message}``.

    ``where`` names what was validated (``profiles.echo.options``); the failing field is
    appended to it. With ``known``, an unknown field also lists the known ones. Raise the
    result ``from None``: the pydantic traceback says nothing more to a user.
    """
    field, message, kind = first_problem(exc)
    place = f"{where}.{field}" if where and field else where or field
    hint = ""
    if known is not None and kind == "extra_forbidden":
        hint = f" (known options: {', '.join(known)})"
    return ConfigError(f"{place}: {message}{hint}" if place else f"{message}{hint}")


def read_toml(file: Path) -> dict[str, Any]:
    """A TOML config file as a dict; a missing, unreadable or malformed file is a one-line ConfigError naming it."""
    import tomllib

    try:
        return dict(tomllib.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: {' '.join(str(exc).split())}") from None

"""Config files and their errors: a pydantic ``ValidationError`` as the one-line `ConfigError` a user reads, and the
one TOML reader the configs share."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._errors import ConfigError

if TYPE_CHECKING:
    from pydantic import ValidationError


def config_error(exc: ValidationError, where: str, *, known: Iterable[str] | None = None) -> ConfigError:
    """A one-line ConfigError for the first problem in ``exc``: ``{where}.{field}: {message}``.

    ``where`` names what was validated (``profiles.echo.options``); the failing field is
    appended to it. With ``known``, an unknown field also lists the known ones. Raise the
    result ``from None``: the pydantic traceback says nothing more to a user.
    """
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    place = f"{where}.{field}" if where and field else where or field
    hint = ""
    if known is not None and first["type"] == "extra_forbidden":
        hint = f" (known options: {', '.join(known)})"
    return ConfigError(f"{place}: {first['msg']}{hint}" if place else f"{first['msg']}{hint}")


def read_toml(file: Path) -> dict[str, Any]:
    """A TOML config file as a dict; a missing, unreadable or malformed file is a one-line ConfigError naming it."""
    import tomllib

    try:
        return dict(tomllib.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: {' '.join(str(exc).split())}") from None

"""A pydantic ``ValidationError`` as the one-line `ConfigError` a user reads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

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

"""The plugin's options: what ``profiles.<name>.options`` in tunewise.toml may set (see docs/local.md).

Values from a TOML file or the environment arrive as strings as often as as numbers, so
each field takes both and says in one line what it expected: ``"4"`` is a batch size,
``"yes"`` a boolean; ``True`` is not a number and ``"tpu"`` not a device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from tunewise.plugin import config_error, did_you_mean
from tunewise_local._devices import DTYPES

DEFAULT_MAX_TOKENS = 256


def _invalid(reason: str, value: Any) -> PydanticCustomError:
    """The one-line reason a field gives (pydantic prefixes nothing to a custom error)."""
    return PydanticCustomError("local_option", f"{reason}; got {value!r}")


def _device(value: Any) -> str:
    base, colon, index = value.partition(":") if isinstance(value, str) else ("", "", "")
    if base not in ("auto", "cpu", "cuda", "mps") or (colon and not (base == "cuda" and index.isdigit())):
        raise _invalid("expected one of auto, cpu, cuda, cuda:N, mps", value)
    return str(value)


def _dtype(value: Any) -> str:
    if value not in DTYPES:
        raise _invalid(f"expected one of {', '.join(DTYPES)}", value)
    return str(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise _invalid("expected a boolean", value)


def _number(kind: type[int] | type[float], minimum: float) -> Callable[[Any], Any]:
    """A validator for a whole (``int``) or finite (``float``) number at least ``minimum``."""

    def check(value: Any) -> int | float:
        if isinstance(value, bool):
            raise _invalid("a boolean is not a number", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _invalid(f"expected {'a whole' if kind is int else 'a'} number", value) from None
        if not math.isfinite(number):
            raise _invalid("must be a finite number", value)
        if kind is int and not number.is_integer():
            raise _invalid("expected a whole number", value)
        if number < minimum:
            raise _invalid(f"must be >= {minimum:g}", value)
        return int(number) if kind is int else number

    return check


Device = Annotated[str, PlainValidator(_device)]
"""``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
DType = Annotated[str, PlainValidator(_dtype)]
Flag = Annotated[bool, PlainValidator(_flag)]


class LoadOptions(BaseModel):
    """How to load a model: the profile's ``device``, ``dtype`` and ``trust_remote_code``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: Device = "auto"
    dtype: DType = "auto"
    trust_remote_code: Flag = False


class LocalOptions(LoadOptions):
    """The ``local`` profile's options, validated: how to load, and how to batch and answer."""

    max_batch_size: Annotated[int, PlainValidator(_number(int, 1))] = 8
    """Most requests decoded together by one engine step."""
    max_wait_ms: Annotated[float, PlainValidator(_number(float, 0))] = 10.0
    """How long the engine waits for more requests before it starts a batch."""
    max_tokens: Annotated[int, PlainValidator(_number(int, 1))] = DEFAULT_MAX_TOKENS
    """Answer length when a request sets none."""

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, data: Any) -> Any:
        """An unknown option names the closest known one (pydantic's own message would not)."""
        if isinstance(data, Mapping):
            for name in data:
                if name not in cls.model_fields:
                    hint = did_you_mean(str(name), cls.model_fields)
                    known = ", ".join(sorted(cls.model_fields))
                    raise PydanticCustomError("local_option", f"unknown option {name!r}{hint}; known: {known}")
        return data

    @property
    def load(self) -> LoadOptions:
        """The options that say how a model loads (part of the model cache's key)."""
        return LoadOptions(device=self.device, dtype=self.dtype, trust_remote_code=self.trust_remote_code)

    @classmethod
    def parse(cls, options: Mapping[str, Any] | LocalOptions | None, *, profile: str = "local") -> LocalOptions:
        """Options from settings, checked.

        A bad one is a one-line [`ConfigError`][tunewise.ConfigError] naming
        ``profiles.<profile>.options.<name>``.
        """
        if isinstance(options, LocalOptions):
            return options
        try:
            return cls.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise config_error(exc, f"profiles.{profile}.options") from None


OPTION_NAMES = frozenset(LocalOptions.model_fields)
"""What ``profiles.local.options`` (or ``tunewise.model("local:...", **options)``) may set."""

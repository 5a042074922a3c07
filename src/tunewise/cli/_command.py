"""How every ``tunewise`` command checks and shows its parameters: one place for the whole command tree.

The root app is built with `CommandTree`; when typer assembles the commands, it walks
them all once and

- checks values the same way for every option and argument, beyond the type and range typer
  checks: numbers must be finite and fit in 64 bits; text and paths must not be empty or blank
  and must not hold a NUL character; a path must not lie under a file (it could never be created);
- shows help as written: help texts are never read as Rich markup (``[[strategies]]`` and
  ``[code]`` stay on screen), flags show no value placeholder, and value placeholders read
  INTEGER, FLOAT, TEXT, FILE, DIR, PATH or the choices, never a Python type (``<list[str]>``).
"""

from __future__ import annotations

import math
from pathlib import Path, PurePath
from typing import Any, get_args

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption, _TyperParameter

INT_LIMIT = 2**63 - 1
"""The largest integer an option takes: beyond it SQLite, numpy and C libraries overflow."""

_LABELS = {int: "INTEGER", float: "FLOAT", str: "TEXT", bool: "BOOLEAN"}
_PATH_LABELS = {"file": "FILE", "dir": "DIR", "path": "PATH"}


def _check_given(value: Any, *, path: bool) -> None:
    """Check text the user typed, before typer converts it.

    It must not be empty or blank, hold no NUL character, and be UTF-8 unless it names a file
    (file names may hold any bytes; text goes to servers and files).
    """
    for item in value if isinstance(value, (list, tuple)) else (value,):
        if not isinstance(item, str):
            continue
        if not item.strip():
            raise typer.BadParameter("must not be empty")
        if "\x00" in item:
            raise typer.BadParameter("must not contain a NUL character")
        if not path:
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise typer.BadParameter("is not valid UTF-8 text") from None


def _check_converted(value: Any) -> None:
    """Numbers after conversion: finite, and integers within 64 bits."""
    for item in value if isinstance(value, (list, tuple)) else (value,):
        if isinstance(item, bool):
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise typer.BadParameter(f"{item} is not a finite number")
        if isinstance(item, int) and abs(item) > INT_LIMIT:
            raise typer.BadParameter(f"{item} is too large (the limit is {INT_LIMIT})")


def _check_path(value: Any) -> None:
    """A path can only be created where every existing ancestor is a folder (``notes.txt/out`` never can)."""
    for item in value if isinstance(value, (list, tuple)) else (value,):
        if not isinstance(item, PurePath):
            continue
        path = Path(item).expanduser()
        for ancestor in path.parents:
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise typer.BadParameter(f"{item}: {ancestor} is a file, not a folder")
                break


def _label(param: TyperArgument | TyperOption) -> str:
    """The placeholder for a parameter's value: INTEGER, FLOAT, TEXT, FILE, DIR, PATH or [a|b|c]."""
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices is not None:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices) + "]"
    if descriptor.is_path:
        return _PATH_LABELS.get(descriptor.path_type, "PATH")
    annotation = descriptor.annotation
    if descriptor.is_list:
        (annotation,) = get_args(annotation) or (str,)
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return "PATH"
    return _LABELS.get(annotation, "TEXT") if isinstance(annotation, type) else "TEXT"


class _Checked(_TyperParameter):
    """The same checks for every argument and option: before click converts a value, and after."""

    __slots__ = ()  # no layout of its own: parameters change class in place (`param.__class__ = _Option`)

    def process_value(self, ctx: Any, value: Any) -> Any:
        _check_given(value, path=self.type_descriptor.is_path)
        value = super().process_value(ctx, value)
        _check_converted(value)
        _check_path(value)
        return value


class _Argument(_Checked, TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return _label(self) + ("..." if self.nargs != 1 else "")


class _Option(_Checked, TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value: nothing to show
        if self.metavar is not None:
            return self.metavar
        return _label(self) + ("..." if self.nargs != 1 else "")


def _escape(text: str | None) -> str | None:
    from rich.markup import escape

    return None if text is None else escape(text)


def _as_flag(option: Any) -> Any:
    """The ``--help`` option typer adds when help is asked for: shown as the flag it is."""
    if type(option) is TyperOption:
        option.__class__ = _Option
    return option


def prepare(command: Any) -> None:
    """Give ``command`` and everything under it the checks and help display described above."""
    markup = getattr(command, "rich_markup_mode", None) == "rich"
    if markup:
        command.help = _escape(command.help)
        command.short_help = _escape(command.short_help)
        command.epilog = _escape(command.epilog)
    for param in command.params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
        if markup and getattr(param, "help", None):
            param.help = _escape(param.help)
    if not hasattr(command, "_plain_help_option"):
        command._plain_help_option = command.get_help_option
        command.get_help_option = lambda ctx: _as_flag(command._plain_help_option(ctx))
    for sub in (getattr(command, "commands", None) or {}).values():
        prepare(sub)


class CommandTree(TyperGroup):
    """The root group: prepares the whole command tree (see the module docstring) once it is built."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        prepare(self)

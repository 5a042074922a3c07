"""The root ``tunewise`` command and its sub-command groups."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer
import typer.main

from tunewise._errors import TunewiseError
from tunewise._version import __version__
from tunewise.cli import _eval
from tunewise.cli._chat import register as register_chat_command
from tunewise.cli._console import setup_console
from tunewise.cli._costs import register as register_cost_commands
from tunewise.cli._data import data_app
from tunewise.cli._demo import demo_app
from tunewise.cli._index import index_app
from tunewise.cli._ladder import ladder_app
from tunewise.cli._plugins import PluginCommandTree
from tunewise.cli._providers import providers_command
from tunewise.cli._serve import register as register_serve_command

app = typer.Typer(
    name="tunewise",
    help="Prompt harder, or fine-tune? Measure it, then do both.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PluginCommandTree,  # plugins' own commands (``tunewise local ...``) come after the built-in ones
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunewise {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show third-party progress bars and advisories, and where each warning came from."
        ),
    ] = False,
) -> None:
    """tunewise: evaluate prompting vs fine-tuning, and run both."""
    if verbose:
        setup_console(verbose=True)


app.command("providers")(providers_command)
register_cost_commands(app)
app.add_typer(_eval.eval_app)
app.add_typer(data_app)
app.add_typer(index_app)
register_serve_command(app)
register_chat_command(app)
app.add_typer(ladder_app)
app.add_typer(demo_app)


def main(args: Sequence[str] | None = None) -> NoReturn:
    """Entry point: runs the app and exits with its status (see `run()`)."""
    # torch's OpenMP threads sleep instead of spinning when they wait: on a shared or busy CPU a spinning
    # thread steals the core its sibling needs (measured: 2 threads 3x slower than 1 at load 3; with
    # PASSIVE, 2 threads match or beat 1). Read once, when torch loads; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(run(args))


def run(args: Sequence[str] | None = None) -> int:
    """Run ``tunewise ARGS`` and return the exit status; every expected failure becomes one line on stderr.

    Usage errors (a bad option value, a missing argument) and bad input (files, settings, data)
    exit 2; other known failures exit 1. An unexpected exception is a bug: it is reported in one
    line too, with exit 1, and ``TUNEWISE_TRACEBACK=1`` shows its traceback.
    """
    setup_console()  # one-line warnings, quiet third-party loaders (the root -v undoes it)
    try:
        result = command().main(args=None if args is None else list(args), prog_name="tunewise", standalone_mode=False)
    except Exception as exc:  # every failure ends as one line and an exit status
        if os.environ.get("TUNEWISE_TRACEBACK") and _unexpected(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group run bare: its help is the answer
            typer.echo(exc.format_message() if hasattr(exc, "format_message") else "", err=True, nl=False)
            return 2
        message, status = describe_failure(exc)
        _say(message)
        return status
    return result if isinstance(result, int) else 0


@functools.cache
def command() -> Any:
    """The click command tree of `app`, built once per process (typer builds it anew on each call)."""
    return typer.main.get_command(app)


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """The one line (without ``error:``) and the exit status that report ``exc`` to a user."""
    from typer._click.exceptions import ClickException, UsageError

    if isinstance(exc, UsageError):
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return exc.format_message() + hint, 2
    if isinstance(exc, ClickException):
        return exc.format_message(), exc.exit_code
    if isinstance(exc, typer.Abort):
        return "aborted", 1
    if isinstance(exc, TunewiseError):
        return str(exc), 2
    if isinstance(exc, OSError):
        return _os_error(exc), 2
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot read text: {exc.reason} at byte {exc.start} (files must be UTF-8)", 2
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", 2
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is not None and isinstance(exc, sqlite3.DatabaseError):
        return f"database: {exc}", 2
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return (f"{where}: " if where else "") + first["msg"], 2
    return f"unexpected {type(exc).__name__}: {exc} (a bug in tunewise; TUNEWISE_TRACEBACK=1 shows where)", 1


def _unexpected(exc: BaseException) -> bool:
    return describe_failure(exc)[0].startswith("unexpected ")


def _os_error(exc: OSError) -> str:
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is None:
        return reason
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {reason}"


def _say(message: str) -> None:
    from tunewise._secrets import redact

    line = " ".join(part.strip() for part in redact(message).splitlines() if part.strip())
    line = line.encode("utf-8", "backslashreplace").decode("utf-8")  # a file name's undecodable bytes
    typer.secho(f"error: {line}", err=True, fg="red")

"""The root ``tunewise`` command and its sub-command groups."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tunewise._errors import TunewiseError
from tunewise._version import __version__
from tunewise.cli import _eval
from tunewise.cli._chat import register as register_chat_command
from tunewise.cli._costs import register as register_cost_commands
from tunewise.cli._data import data_app
from tunewise.cli._demo import demo_app
from tunewise.cli._index import index_app
from tunewise.cli._ladder import ladder_app
from tunewise.cli._local import local_app
from tunewise.cli._providers import providers_command
from tunewise.cli._serve import register as register_serve_command

app = typer.Typer(
    name="tunewise",
    help="Prompt harder, or fine-tune? Measure it, then do both.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
) -> None:
    """tunewise: evaluate prompting vs fine-tuning, and run both."""


app.command("providers")(providers_command)
register_cost_commands(app)
app.add_typer(_eval.eval_app)
app.add_typer(data_app)
app.add_typer(index_app)
app.add_typer(local_app)
register_serve_command(app)
register_chat_command(app)
app.add_typer(ladder_app)
app.add_typer(demo_app)


def main() -> None:
    """Entry point: runs the app and turns tunewise errors into one line on stderr."""
    import os

    # torch's OpenMP threads sleep instead of spinning when they wait: on a shared or busy CPU a spinning
    # thread steals the core its sibling needs (measured: 2 threads 3x slower than 1 at load 3; with
    # PASSIVE, 2 threads match or beat 1). Read once, when torch loads; a user's own setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        app()
    except TunewiseError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(2)

"""``tunewise echo ...``: the plugin's own commands, reached through ``ProviderPlugin.commands``.

tunewise runs this module's typer app when a user types ``tunewise echo ...``; it imports
the module only then (or when ``tunewise --help`` lists every command).
"""

from __future__ import annotations

import typer

from tunewise_echo._provider import CHAT_MODELS, EMBEDDING_MODELS

app = typer.Typer(name="echo", help="The echo plugin's own commands.", no_args_is_help=True)


@app.command("models")
def models_command() -> None:
    """List the models echo serves, with their kind."""
    for name in CHAT_MODELS:
        typer.echo(f"chat   echo:{name}")
    for name in EMBEDDING_MODELS:
        typer.echo(f"embed  echo:{name}")

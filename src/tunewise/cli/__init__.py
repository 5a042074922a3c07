"""The ``tunewise`` command line (typer + rich). Each command group lives in its own module."""

from tunewise.cli._app import app, main

__all__ = ["app", "main"]

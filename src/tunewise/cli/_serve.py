"""``tunewise serve CONFIG_OR_MODEL``: strategies behind an OpenAI-compatible endpoint.

The server itself is `tunewise.serve` (imported when the command runs); this module
turns flags and the config's ``[serve]`` table into one running uvicorn server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tunewise._errors import ConfigError

if TYPE_CHECKING:
    import socket

    from tunewise._registry import Registry


class LogLevel(StrEnum):
    """uvicorn's log levels."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def _positive(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise typer.BadParameter(f"{value:g} is not a positive number of seconds")
    return value


def serve_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="CONFIG_OR_MODEL",
            help="A TOML file of [[strategies]] tables (each served by its name), or a model reference served "
            "zero-shot.",
        ),
    ],
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to bind; default 127.0.0.1 (this machine only).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (0-65535); default 8000, 0 picks a free one.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            metavar="VAR",
            help="Require 'Authorization: Bearer <token>' with the token read from this environment variable.",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option("--max-body-bytes", min=1, help="Largest request body accepted (default 1000000).")
    ] = None,
    timeout_s: Annotated[
        float | None,
        typer.Option("--timeout", callback=_positive, help="Seconds a strategy may take per request (default 300)."),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", min=1, help="Answers computed at once; others wait (default: no cap)."),
    ] = None,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="uvicorn log level.")] = LogLevel.info,
) -> None:
    """Serve strategies as an OpenAI-compatible API: POST /v1/chat/completions, GET /v1/models, GET /health.

    Point any OpenAI client at http://HOST:PORT/v1 and pass a strategy's name as the model. Every
    model's provider is created and the port bound before the server starts, so a typo in a model
    reference, a missing API key or a port in use stops here with one line. GET /health/ready
    answers 200 once every model is loaded (503 before).
    """
    import anyio

    flags = {
        "host": host,
        "port": port,
        "api_key_env": api_key_env,
        "max_body_bytes": max_body_bytes,
        "timeout_s": timeout_s,
        "max_concurrency": max_concurrency,
    }

    async def main() -> None:
        from tunewise._registry import Registry
        from tunewise.serve._server import serve, url_of, warn_if_exposed

        registry = Registry()
        try:
            ready = _prepare(target, {k: v for k, v in flags.items() if v is not None}, registry)
        except BaseException:
            await registry.aclose()
            raise
        _log_to_stderr(log_level.value)
        warn_if_exposed(ready.host, ready.secret_env is not None)
        auth = f"bearer token from ${ready.secret_env}" if ready.secret_env is not None else "none"
        typer.echo(
            f"tunewise serve: {ready.names} (auth: {auth}); OpenAI clients use {url_of(ready.sock)}/v1", err=True
        )
        await serve(ready.app, host=ready.host, port=ready.port, log_level=log_level.value, sock=ready.sock)

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@dataclass(frozen=True)
class _Ready:
    """A server about to start: the app with every model's provider created, and the bound socket."""

    app: Any
    host: str
    port: int
    sock: socket.socket
    secret_env: str | None
    """The environment variable the bearer token came from (``None``: no auth)."""
    names: str


def _prepare(target: str, given: dict[str, Any], registry: Registry) -> _Ready:
    """Load what is served, merge flags over the config's ``[serve]`` table, create the app and bind the port."""
    from tunewise.serve import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S, create_app
    from tunewise.serve._config import is_config, load_served
    from tunewise.serve._server import DEFAULT_HOST, DEFAULT_PORT, bind

    served = load_served(target, registry=registry)
    settings = {**served.settings, **given}

    def origin(key: str) -> str:
        flag = {"timeout_s": "--timeout"}.get(key, "--" + key.replace("_", "-"))
        return flag if key in given else f"{served.source}: serve.{key}"

    secret = _api_key(settings.get("api_key_env"), origin("api_key_env"))
    try:
        app = create_app(  # creates every model's provider: a missing plugin or key fails here
            served.strategies,
            api_key=secret,
            max_body_bytes=int(settings.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
            timeout_s=float(settings.get("timeout_s", DEFAULT_TIMEOUT_S)),
            max_concurrency=settings.get("max_concurrency"),
            on_shutdown=registry.aclose,
        )
    except ConfigError as exc:
        raise ConfigError(f"{served.source}: {exc}" if is_config(target) else str(exc)) from None
    host = str(settings.get("host", DEFAULT_HOST))
    port = int(settings.get("port", DEFAULT_PORT))
    where = ", ".join(origin(k) for k in ("host", "port") if k in settings) or "--host/--port"
    return _Ready(
        app=app,
        host=host,
        port=port,
        sock=bind(host, port, where=where),
        secret_env=settings["api_key_env"] if secret is not None else None,
        names=", ".join(sorted(served.strategies)),
    )


def _log_to_stderr(level: str) -> None:
    """Send tunewise's own log lines (requests, warnings) to stderr, next to uvicorn's and in its format."""
    import logging

    class Format(logging.Formatter):
        """One line a record; a traceback only at debug level, where one is asked for."""

        def format(self, record: logging.LogRecord) -> str:
            line = f"{record.levelname + ':':<10}{' '.join(record.getMessage().splitlines())}"
            if record.exc_info and record.levelno <= logging.DEBUG:
                line += "\n" + self.formatException(record.exc_info)
            return line

    handler = logging.StreamHandler()
    handler.setFormatter(Format())
    log = logging.getLogger("tunewise")
    log.addHandler(handler)
    log.setLevel(level.upper() if level.upper() in logging.getLevelNamesMapping() else logging.INFO)


def _api_key(variable: str | None, where: str = "--api-key-env") -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable, "")
    if not value.strip():
        raise ConfigError(f"{where} {variable}: the environment variable is not set or empty")
    return value.strip()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_command)

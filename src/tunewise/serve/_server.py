"""Running the app with uvicorn: in the foreground (``tunewise serve``), or on a background thread.

Loopback (``127.0.0.1``) is the default everywhere: serving on a network interface is a
choice you make with ``host``, and without an API key it is logged as a warning.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

from tunewise._errors import ConfigError
from tunewise._secrets import get_logger

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

_log = get_logger("tunewise.serve")


def _config(app: ASGIApp, host: str, port: int, log_level: str) -> uvicorn.Config:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
    )


def warn_if_exposed(host: str, authenticated: bool) -> None:
    if host not in _LOOPBACK and not authenticated:
        _log.warning("serving on %s without an API key: anyone who can reach this address can use it", host)


def bind(host: str, port: int, *, where: str = "--host/--port") -> socket.socket:
    """A socket listening on ``host:port``, or a one-line `ConfigError` naming ``where`` they came from.

    Binding before the server starts turns an unknown host, an address of another machine or
    a port in use into one clear line, and lets the caller check everything else first.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: port {port} is not in the range 0-65535")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{where}: cannot resolve host {host!r}: {reason}") from None
    family, kind, proto, _, address = next((f for f in found if f[0] == socket.AF_INET), found[0])
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{where}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    app: ASGIApp,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` until interrupted (Ctrl-C stops it gracefully); on ``sock`` when given (see `bind()`)."""
    import uvicorn

    listening = sock if sock is not None else bind(host, port)

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # uvicorn logs this line itself only when it binds
                logging.getLogger("uvicorn.error").info(
                    "Uvicorn running on %s (Press CTRL+C to quit)", url_of(listening)
                )

    await Server(_config(app, host, port, log_level)).serve(sockets=[listening])


class BackgroundServer:
    """``app`` served by uvicorn on a thread, for tests, notebooks and scripts.

    Use it as a context manager: inside the ``with`` block the server is listening and
    ``url`` is its base URL (add ``/v1`` for an OpenAI client). ``port=0`` (the default)
    picks a free port.
    """

    def __init__(self, app: ASGIApp, *, host: str = DEFAULT_HOST, port: int = 0, log_level: str = "warning") -> None:
        import uvicorn

        self.host = host
        self._server = uvicorn.Server(_config(app, host, port, log_level))
        self._thread = threading.Thread(target=self._server.run, name="tunewise-serve", daemon=True)
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server could not start on {self.host} (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout:g}s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.port = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

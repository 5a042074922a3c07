"""Running the app with uvicorn: in the foreground (``tunewise serve``), or on a background thread.

Loopback (``127.0.0.1``) is the default everywhere: serving on a network interface is a
choice you make with ``host``, and without an API key it is logged as a warning.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING

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


async def serve(app: ASGIApp, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C stops it gracefully)."""
    import uvicorn

    await uvicorn.Server(_config(app, host, port, log_level)).serve()


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

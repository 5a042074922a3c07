"""Any `Strategy` as an OpenAI-compatible HTTP endpoint.

``create_app`` builds a starlette ASGI app (``POST /v1/chat/completions`` with and without
streaming, ``GET /v1/models``, ``GET /health`` and ``GET /health/ready``); [`serve()`][tunewise.serve.serve] runs it
with uvicorn and [`BackgroundServer`][tunewise.serve.BackgroundServer] runs it on a thread. Needs the ``serve`` extra
(``pip install 'tunewise[serve]'``). Names load on first use, so the loaders that
``tunewise chat`` uses do not import starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise._lazy import lazy_getattr

if TYPE_CHECKING:
    from tunewise.serve._app import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT_S, create_app, error_for
    from tunewise.serve._config import Served, load_served, split_target
    from tunewise.serve._server import DEFAULT_HOST, DEFAULT_PORT, BackgroundServer, serve
    from tunewise.serve._wire import ApiError, CompletionRequest, parse_body

_EXPORTS = {
    "DEFAULT_MAX_BODY_BYTES": "tunewise.serve._app",
    "DEFAULT_TIMEOUT_S": "tunewise.serve._app",
    "create_app": "tunewise.serve._app",
    "error_for": "tunewise.serve._app",
    "Served": "tunewise.serve._config",
    "load_served": "tunewise.serve._config",
    "split_target": "tunewise.serve._config",
    "DEFAULT_HOST": "tunewise.serve._server",
    "DEFAULT_PORT": "tunewise.serve._server",
    "BackgroundServer": "tunewise.serve._server",
    "serve": "tunewise.serve._server",
    "ApiError": "tunewise.serve._wire",
    "CompletionRequest": "tunewise.serve._wire",
    "parse_body": "tunewise.serve._wire",
}

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT_S",
    "ApiError",
    "BackgroundServer",
    "CompletionRequest",
    "Served",
    "create_app",
    "error_for",
    "load_served",
    "parse_body",
    "serve",
    "split_target",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__

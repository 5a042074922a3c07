"""Running the fake: in a background thread for tests, or as its own process for benchmarks."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from tunewise_openai.fake._app import FakeOpenAI
from tunewise_openai.fake._faults import Faults


@dataclass
class FakeServer:
    """A running fake server: where it listens, its state and its fault switch."""

    fake: FakeOpenAI
    host: str
    port: int

    @property
    def base_url(self) -> str:
        """The ``base_url`` a client uses (``http://127.0.0.1:PORT/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def faults(self) -> Faults:
        return self.fake.faults

    def stats(self) -> dict[str, Any]:
        return self.fake.stats()

    def reset(self) -> None:
        self.fake.reset()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP proto: asyncio sets NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: Any, *, fast: bool = False) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="critical",  # injected resets are logged by uvicorn as errors; they are on purpose
        lifespan="off",
        access_log=False,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "auto",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=30,
    )


@contextlib.contextmanager
def run_fake_openai(
    faults: Faults | None = None, *, api_key: str | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[FakeServer]:
    """Serve a [`FakeOpenAI`][tunewise_openai.fake.FakeOpenAI] on a random loopback port for the ``with`` block.

    ::

        with run_fake_openai(Faults(rate=0.2, seed=1)) as server:
            provider = OpenAIProvider(base_url=server.base_url, api_key=None)
    """
    fake = FakeOpenAI(faults, api_key=api_key)
    sock = _bind(host, port)
    server = uvicorn.Server(_config(fake.app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the fake OpenAI server did not start")
            threading.Event().wait(0.005)
        yield FakeServer(fake=fake, host=host, port=sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m tunewise_openai.fake [--port N]``: serve until killed; prints the base URL.

    The first line on stdout is JSON (``{"base_url": ...}``), so a parent process can
    start it on port 0 and read where it listens.
    """
    parser = argparse.ArgumentParser(prog="python -m tunewise_openai.fake", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--fast", action="store_true", help="uvloop + httptools (for benchmarks)")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_key=args.api_key)
    sock = _bind(args.host, args.port)
    print(json.dumps({"base_url": f"http://{args.host}:{sock.getsockname()[1]}/v1"}), flush=True)
    uvicorn.Server(_config(fake.app, fast=args.fast)).run(sockets=[sock])
    sys.exit(0)

"""``model.sync``: the same calls as [`Model`][tunewise.Model] without ``await``, for scripts and notebooks.

Calls run on one private event loop in a daemon thread, started on first use and kept
for the model (an anyio ``BlockingPortal``), so repeated calls reuse the provider's
connections instead of opening a loop and a pool per call. The calling thread only
waits: it may be a plain script or a thread with a running loop of its own (Jupyter).
A stream runs in one task of that loop and hands chunks over one at a time, so the
provider's async generator never moves between tasks.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from tunewise._types import ChatChunk, ChatRequest, ChatResponse

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.abc import ObjectReceiveStream, ObjectSendStream
    from anyio.from_thread import BlockingPortal

    from tunewise._model import Conversation, Model

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)

_open: weakref.WeakSet[SyncModel] = weakref.WeakSet()
"""Facades whose loop is running, closed at interpreter exit."""


class SyncModel:
    """``model.sync``: ``chat``, ``parse`` and ``stream`` of a [`Model`][tunewise.Model], blocking.

    ``close()`` (or ``with model.sync as m:``) closes the model and stops the loop; a loop
    still running at exit is stopped then.
    """

    def __init__(self, model: Model) -> None:
        self.model = model
        self._portal: BlockingPortal | None = None
        self._portal_cm: contextlib.AbstractContextManager[BlockingPortal] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SyncModel {self.model.ref}>"

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> BlockingPortal:
        with self._lock:
            if self._portal is None:
                self.model._check_open()
                from anyio.from_thread import start_blocking_portal

                cm = start_blocking_portal(name=f"tunewise-sync-{self.model.ref.prefix}")
                self._portal = cm.__enter__()
                self._portal_cm = cm
                _open.add(self)
            return self._portal

    def _call(self, func: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait; an interrupt (Ctrl-C) cancels it there."""
        future = self._loop().start_task_soon(func, *args)
        try:
            result: T = future.result()
            return result
        except BaseException:
            future.cancel()
            raise

    def in_own_loop(self) -> bool:
        """Whether the caller runs on this facade's loop (where it must not wait for that loop)."""
        portal = self._portal
        thread = getattr(portal, "_event_loop_thread_id", None)
        return thread is not None and thread == threading.get_ident()

    def stop_loop(self) -> None:
        """Stop the loop (its connections close with it); the model stays as it is."""
        with self._lock:
            cm, self._portal_cm, self._portal = self._portal_cm, None, None
            _open.discard(self)
        if cm is not None:
            cm.__exit__(None, None, None)

    # -- calls ------------------------------------------------------------------------------

    def request(self, conversation: Conversation, /, **options: Any) -> ChatRequest:
        """The exact request `chat()` would send."""
        return self.model.request(conversation, **options)

    def chat(
        self, conversation: Conversation, /, *, output_type: type[BaseModel] | None = None, **options: Any
    ) -> ChatResponse:
        """``await model.chat(...)``, blocking. Bad input raises here, before the loop is used."""
        self.model.request(conversation, output_type=output_type, **options)
        return self._call(functools.partial(self.model.chat, conversation, output_type=output_type, **options))

    def parse(self, conversation: Conversation, output_type: type[P], /, **options: Any) -> P:
        """``await model.parse(...)``, blocking."""
        self.model.request(conversation, output_type=output_type, **options)
        return self._call(functools.partial(self.model.parse, conversation, output_type, **options))

    def stream(self, conversation: Conversation, /, **options: Any) -> SyncStream:
        """The answer's chunks as a plain iterator (close it, or use ``with``, to stop early)."""
        self.model.request(conversation, **options)
        return SyncStream(self, lambda: self.model.stream(conversation, **options))

    # -- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the model (see [`Model.aclose()`][tunewise.Model.aclose]) and stop the loop. Idempotent."""
        if self._portal is not None:
            self._call(self.model._close_provider)  # on the loop that holds the connections
        else:
            _run_without_loop(self.model._close_provider)
        self.stop_loop()
        with self.model._lock:
            if self.model._sync is self:
                self.model._sync = None

    def __enter__(self) -> SyncModel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _run_without_loop(func: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``func`` to completion from sync code, with or without a loop running in this thread."""
    import anyio
    from anyio.from_thread import start_blocking_portal

    try:
        import sniffio

        sniffio.current_async_library()
    except Exception:  # no loop in this thread
        anyio.run(func)
        return
    with start_blocking_portal() as portal:
        portal.call(func)


class SyncStream(Iterator[ChatChunk]):
    """A streamed answer as a blocking iterator; ``close()`` (or ``with``) stops it early."""

    def __init__(self, owner: SyncModel, source: Callable[[], Any]) -> None:
        import anyio

        self._owner = owner
        self._error: BaseException | None = None
        self._finished = False
        send: ObjectSendStream[ChatChunk]
        receive: ObjectReceiveStream[ChatChunk]
        send, receive = anyio.create_memory_object_stream[ChatChunk](0)
        self._receive = receive
        self._scope: anyio.CancelScope | None = None  # made on the loop: a cancel scope needs one
        self._done = owner._loop().start_task_soon(self._pump, source, send)

    async def _pump(self, source: Callable[[], Any], send: ObjectSendStream[ChatChunk]) -> None:
        import anyio

        with anyio.CancelScope() as self._scope:
            async with send:
                try:
                    async for chunk in source():
                        await send.send(chunk)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the reader closed the stream
                except Exception as exc:
                    self._error = exc

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> ChatChunk:
        import anyio

        if self._finished:
            raise StopIteration
        try:
            return self._owner._call(self._receive.receive)
        except anyio.EndOfStream:
            self._finish()
            if self._error is not None:
                error, self._error = self._error, None
                raise error from None
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def _finish(self) -> None:
        self._finished = True
        with contextlib.suppress(BaseException):
            self._done.result()

    def close(self) -> None:
        """Stop the stream (the provider's request is cancelled) and wait until it has stopped."""
        if self._finished:
            return
        portal = self._owner._portal
        if portal is not None:

            async def stop() -> None:
                if self._scope is not None:
                    self._scope.cancel()
                await self._receive.aclose()

            with contextlib.suppress(BaseException):
                portal.call(stop)
        self._finish()

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@atexit.register
def _close_at_exit() -> None:
    """Stop the loops of facades never closed, so their connections close cleanly."""
    for facade in list(_open):
        with contextlib.suppress(BaseException):
            facade.close()

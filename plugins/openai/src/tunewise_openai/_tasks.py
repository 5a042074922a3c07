"""Running a call's requests concurrently, with one error out, never an ``ExceptionGroup``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

from tunewise import ProviderError, TunewiseError
from tunewise_openai._errors import one_line


async def run_all(jobs: Iterable[Callable[[], Awaitable[None]]], *, provider: str, action: str) -> None:
    """Run ``jobs`` concurrently; the first to fail cancels the others and its error is raised alone.

    A [`TunewiseError`][tunewise.TunewiseError] is raised as it is; anything else becomes a one-line
    [`ProviderError`][tunewise.ProviderError] (the original is kept as its ``__cause__``).
    """
    failures: list[Exception] = []

    async with anyio.create_task_group() as tg:

        async def guarded(job: Callable[[], Awaitable[None]]) -> None:
            try:
                await job()
            except Exception as exc:  # cancellation is not an Exception: it passes
                failures.append(exc)
                tg.cancel_scope.cancel()

        for job in jobs:
            tg.start_soon(guarded, job)
    if failures:
        first = failures[0]
        if isinstance(first, TunewiseError):
            raise first
        raise ProviderError(f"{action}: {type(first).__name__}: {one_line(str(first))}", provider=provider) from first

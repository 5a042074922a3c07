"""Why cases failed: errors grouped by cause, and which errors stop a run because every case would hit them.

A run that ends with "0 ok, 3 errors" must say why. Stored error lines are grouped by
cause (the line with what differs from case to case taken out: numbers, request ids,
the case id), each cause with its count and one example case. Errors that are not
about one case (bad credentials, a model or plugin that does not exist, a missing key,
a setting no request can carry) would fail every other case the same way: the runner
stops at the first one instead of paying for, or waiting on, the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from tunewise._errors import AuthenticationError, CapabilityError, ConfigError, NotFoundError
from tunewise.evaluation._runstore import CaseResult

_REQUEST_ID = re.compile(r"(?:, | \()request id [^,)\s]+\)?")
_NUMBER = re.compile(r"(?<![\w./-])(?<!status )\d+(?:\.\d+)?(?![\w/-]|\.\d)")
"""A number on its own (``9006 tokens``, ``at most 1024.``), not part of a name, path or version, nor a status."""


class ErrorCause(BaseModel):
    """One cause of failed cases: how many cases it failed, and one of them as an example."""

    model_config = ConfigDict(frozen=True)

    cause: str
    """The error line with what differs between cases taken out (numbers read ``N``, no request id)."""
    count: int
    strategy: str
    """The example's strategy."""
    case_id: str
    """The example's case."""
    example: str
    """The example's error line, as stored."""

    def lines(self) -> list[str]:
        """Two lines for a terminal: the count and cause, then the example case (and its line if it differs)."""
        where = f"e.g. {self.strategy} / {self.case_id}"
        return [f"{self.count} x {self.cause}", where if self.example == self.cause else f"{where}: {self.example}"]


def stops_run(exc: BaseException) -> bool:
    """Whether ``exc`` will fail every case alike, so that running the rest is no use.

    Bad credentials (401/403), a model, file or plugin that does not exist (404), a missing
    API key or any other configuration error, a capability the provider lacks. A request the
    provider refuses for its content (400: too long for the context, filtered), a timeout or
    a server error that outlived its retries fail their own case only.
    """
    return isinstance(exc, AuthenticationError | NotFoundError | ConfigError | CapabilityError)


def normalize_error(error: str, case_id: str | None = None) -> str:
    """``error`` with what differs from case to case taken out: request ids, the case id, numbers (not statuses)."""
    text = _REQUEST_ID.sub(lambda m: ")" if m.group(0).startswith(",") and m.group(0).endswith(")") else "", error)
    if case_id:
        text = re.sub(rf"(?<![\w-]){re.escape(case_id)}(?![\w-])", "<case>", text)
    return _NUMBER.sub("N", text)


def error_causes(results: Iterable[CaseResult]) -> list[ErrorCause]:
    """The errored ``results`` grouped by cause, most frequent first (ties in the order first seen)."""
    found: dict[str, tuple[int, CaseResult]] = {}
    for result in results:
        if result.status != "error":
            continue
        key = normalize_error(result.error or "unknown error", result.case_id)
        count, example = found.get(key, (0, result))
        found[key] = (count + 1, example)
    ordered = sorted(found.items(), key=lambda item: -item[1][0])  # stable: ties keep first-seen order
    return [
        ErrorCause(
            cause=cause,
            count=count,
            strategy=example.strategy,
            case_id=example.case_id,
            example=example.error or "unknown error",
        )
        for cause, (count, example) in ordered
    ]


def describe_errors(causes: Sequence[ErrorCause], total: int, *, limit: int = 10) -> list[str]:
    """Lines for a terminal: ``N of M cases failed``, then each cause (count, cause, an example)."""
    errors = sum(c.count for c in causes)
    if not errors:
        return []
    lines = [f"{errors} of {total} cases failed; by cause:"]
    for cause in causes[:limit]:
        first, example = cause.lines()
        lines += [f"  {first}", f"      {example}"]
    if len(causes) > limit:
        rest = sum(c.count for c in causes[limit:])
        lines.append(f"  ... and {len(causes) - limit} more causes ({rest} cases); see the run's report")
    return lines


def sole_error(exc: BaseException) -> BaseException:
    """The one error inside nested exception groups of one member each (a strategy's task group), else ``exc``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc

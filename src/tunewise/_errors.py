"""One exception tree for everything tunewise raises.

Every message is one line a user can act on. Errors about input name the file, line
and field; errors from providers carry the HTTP status, the provider's request id and
whether a retry may help. None of them ever holds an API key: messages built from
server text pass through [`redact()`][tunewise.plugin.redact] first.
"""

from __future__ import annotations

from pathlib import Path


class TunewiseError(Exception):
    """Base class of every error tunewise raises on purpose."""


# --- configuration -------------------------------------------------------------------


class ConfigError(TunewiseError):
    """Settings, model references or plugins are not usable as given."""


class ModelRefError(ConfigError):
    """A model reference string such as ``openai:gpt-4o-mini`` could not be parsed."""


class PluginNotFoundError(ConfigError):
    """No installed provider plugin serves a model reference's prefix."""


class MissingAPIKeyError(ConfigError):
    """A provider needs an API key and none was configured."""


class OptionError(ConfigError, ValueError):
    """An option or argument given in code is unknown or out of range.

    ``model.chat("hi", temprature=0)`` reads ``chat option 'temprature' is not known (did you
    mean 'temperature'?)``. It is also a ``ValueError``, as pydantic's errors for the same
    values were.
    """


class CapabilityError(TunewiseError):
    """A provider was asked for something it does not declare (embed, fine_tune, ...)."""


# --- input data ----------------------------------------------------------------------


class DataError(TunewiseError):
    """Bad input data, located by file, line and field.

    ``str(error)`` reads ``train.jsonl:12: messages[1].role: unrecognized role 'bot'``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.reason}"


class ConversationError(DataError, ValueError):
    """A conversation given in code is not a list of chat messages.

    ``str(error)`` reads ``conversation[2].role: expected one of system, developer, user,
    assistant, tool; got 'bot'``. It is also a ``ValueError``, as pydantic's errors were.
    """


# --- providers -----------------------------------------------------------------------


class ProviderError(TunewiseError):
    """A provider failed to answer.

    Attributes:
        status: HTTP status code where there was one.
        request_id: the provider's id for the request (quote it to their support).
        retryable: whether trying the same request again may succeed.
        provider: the provider's name (``openai``, ``ollama``, ``local``...).
    """

    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        provider: str | None = None,
    ) -> None:
        self.status = status
        self.request_id = request_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.provider = provider
        self.reason = message
        parts = [f"{provider}: " if provider else "", message]
        details = []
        if status is not None:
            details.append(f"status {status}")
        if request_id:
            details.append(f"request id {request_id}")
        if details:
            parts.append(f" ({', '.join(details)})")
        super().__init__("".join(parts))


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (401/403)."""


class BadRequestError(ProviderError):
    """The provider rejected the request itself (400/422); retrying will not help."""


class NotFoundError(ProviderError):
    """The model, file or job does not exist (404)."""


class RateLimitError(ProviderError):
    """Too many requests or tokens (429). ``retry_after`` is in seconds when known."""

    retryable_by_default = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        request_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, request_id=request_id, provider=provider)


class ServerError(ProviderError):
    """The provider failed on its side (5xx, or 408/409 conflicts worth a retry)."""

    retryable_by_default = True


class ProviderTimeoutError(ProviderError):
    """No answer in time."""

    retryable_by_default = True


class ProviderConnectionError(ProviderError):
    """The connection could not be made or was cut."""

    retryable_by_default = True


class StreamInterruptedError(ProviderError):
    """A streamed answer ended before the provider said it was complete."""

    retryable_by_default = True


class StructuredOutputError(ProviderError):
    """The model refused, or its output did not validate against the requested type."""


# --- jobs and budgets ----------------------------------------------------------------


class FineTuneError(TunewiseError):
    """A fine-tune job failed or was cancelled."""


class BudgetExceededError(TunewiseError):
    """Going on would spend more than the configured budget."""

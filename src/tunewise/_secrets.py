"""Keeping API keys out of messages, logs and files.

Keys live in `pydantic.SecretStr` everywhere in tunewise, so reprs never show
them. Text that comes from elsewhere (a server's error body, a URL, an exception from a
library) goes through [`redact()`][tunewise.plugin.redact] before it reaches a message or a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr

_KEY_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|Bearer\s+[A-Za-z0-9_\-\.=]{8,})",
)
_known: set[str] = set()


def register_secret(secret: SecretStr | str | None) -> None:
    """Remember a secret value so [`redact()`][tunewise.plugin.redact] removes it wherever it appears."""
    if secret is None:
        return
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if len(value) >= 4:
        _known.add(value)


def redact(text: str, secrets: Iterable[SecretStr | str | None] = ()) -> str:
    """Return ``text`` with API keys and bearer tokens replaced by ``[REDACTED]``."""
    for secret in list(_known) + [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets if s]:
        if secret and secret in text:
            text = text.replace(secret, "[REDACTED]")
    return _KEY_PATTERNS.sub("[REDACTED]", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record tunewise emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def get_logger(name: str = "tunewise") -> logging.Logger:
    """A ``tunewise.*`` logger whose records are redacted before any handler sees them.

    Logger filters do not apply to records from child loggers, so every module asks for
    its own logger through this function.
    """
    log = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in log.filters):
        log.addFilter(RedactingFilter())
    return log


logging.getLogger("tunewise").addHandler(logging.NullHandler())

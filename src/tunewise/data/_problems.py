"""One problem found in a dataset, located by file, line and field.

Validation reports every problem instead of stopping at the first, so problems are
plain records; [`tunewise.DataError`][tunewise.DataError] stays for fatal file-level failures (a file
that cannot be opened, a strict loader meeting a bad line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tunewise._errors import DataError

Severity = Literal["error", "warning"]


def one_line(text: str) -> str:
    """Text with control and line-break characters escaped, so a problem always prints as one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem with one example (``line`` set) or with the whole file (``line`` is ``None``).

    ``code`` is stable and machine-readable (OpenAI cookbook names where they exist:
    ``missing_content``, ``unrecognized_role``...); ``message`` is for people.
    ``str(problem)`` is one line: ``train.jsonl:12: messages[1].role: unrecognized role 'bot' [unrecognized_role]``.
    """

    code: str
    message: str
    path: str
    line: int | None = None
    field: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        path = one_line(self.path)
        where = path if self.line is None else f"{path}:{self.line}"
        field = f"{one_line(self.field)}: " if self.field else ""
        label = "" if self.severity == "error" else "warning: "
        return f"{where}: {label}{field}{one_line(self.message)} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "line": self.line,
            "field": self.field,
            "message": self.message,
        }

    def to_error(self) -> DataError:
        """The problem as an exception, for strict loaders that stop at the first error."""
        field = one_line(self.field) if self.field else None
        message = f"{one_line(self.message)} [{self.code}]"
        return DataError(message, path=one_line(self.path), line=self.line, field=field)

"""Idempotency records on disk: which remote job a set of inputs already started.

A fine-tune costs money, so starting the same one twice must not happen, even when
the process dies between "job created" and "job id saved". Records live under
``<tunewise home>/openai/<kind>/<key>.json`` and are written atomically (temp file +
rename), so a crash leaves either the old record or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def input_key(*parts: bytes | str | None) -> str:
    """A stable hash of inputs; each part is length-prefixed so boundaries cannot blur."""
    digest = hashlib.sha256()
    for part in parts:
        raw = b"\x00none" if part is None else part.encode() if isinstance(part, str) else part
        digest.update(len(raw).to_bytes(8, "big"))
        digest.update(raw)
    return digest.hexdigest()


def canonical(value: Any) -> str:
    """JSON with sorted keys: the same parameters always hash the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class RecordStore:
    """A directory of small JSON records keyed by input hash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable record: treated as absent, the metadata lookup still finds the job
        return data if isinstance(data, dict) else None

    def save(self, key: str, record: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{key[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=2, sort_keys=True)
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self) -> Iterable[str]:
        return (p.stem for p in sorted(self.root.glob("*.json")))

"""Writing JSONL outputs all-or-nothing: a temporary file beside the target, renamed when complete.

An interrupted split or conversion leaves no half-written file that looks finished, and no
folder it had to create. A rewritten file keeps its permissions; a new one gets the usual
``0o666`` less the umask (not the ``0o600`` of a temporary file).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from tunewise._errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    folder.mkdir(parents=True, exist_ok=True)
    return missing


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[TextIO]:
    r"""A text file (UTF-8, ``\n`` newlines) that appears at ``path`` only if the block completes."""
    target = Path(path)
    if target.is_dir():
        raise DataError("is a directory; give a file name", path=target)
    created: list[Path] = []
    try:
        created = _make_parents(target.parent)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        _remove_empty(created)
        raise DataError(f"cannot write: {exc.strerror or exc}", path=target) from None
    try:
        try:
            mode = stat.S_IMODE(target.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        _remove_empty(created)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (another output landed there) or already gone

"""The CLI's stderr: every warning on one line, third-party loaders quiet unless ``-v``.

Python's default warning format prints the file, line and the source line that raised it;
transformers and the Hugging Face Hub add progress bars ("Loading weights", "Fetching
files") and advisories a user of the CLI cannot act on. ``tunewise`` prints
``warning: <message> (<Category>)`` instead, and turns those bars and advisories off
(set once, before any of them is imported; a user's own setting of the same variable wins).
``tunewise -v`` shows them, and where each warning came from.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from typing import TextIO

QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # hub downloads, and transformers' "Loading weights" bars
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_SYMLINKS_WARNING": "1",
    "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TQDM_DISABLE": "1",  # bars drawn with tqdm directly (transformers' "Converting ... GGUF tensors"); ours are rich
}
"""Environment variables that quiet transformers and the Hugging Face Hub (read when they are imported)."""

_set_here: list[str] = []
_verbose = False
_shown: set[tuple[str, type[Warning]]] = set()


def format_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """``warning: <message> (<Category>)``: one line, never the source line; with ``-v`` also where from."""
    text = " ".join(str(message).split())
    where = f" at {filename}:{lineno}" if _verbose else ""
    return f"warning: {text} ({category.__name__}{where})\n"


def show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning()` for the CLI: `format_warning()` to stderr, each distinct warning once.

    (Python's own once-per-place rule forgets what it showed whenever a library enters
    ``warnings.catch_warnings``, as model loaders do: the same line would repeat.)
    """
    seen = (" ".join(str(message).split()), category)
    if seen in _shown:
        return
    _shown.add(seen)
    target = file if file is not None else sys.stderr
    with contextlib.suppress(OSError, AttributeError, ValueError):  # stderr gone: a warning must not crash
        target.write(format_warning(message, category, filename, lineno))


def setup_console(*, verbose: bool = False) -> None:
    """One-line warnings; transformers and Hugging Face Hub quiet unless ``verbose`` (the root ``-v``)."""
    global _verbose
    _verbose = verbose
    _shown.clear()  # a new command (tests run several in one process): its warnings are news
    warnings.showwarning = show_warning
    warnings.formatwarning = format_warning
    if verbose:
        for name in _set_here:  # only what the CLI set: a user's own setting stays
            os.environ.pop(name, None)
        _set_here.clear()
        return
    for name, value in QUIET_ENVIRONMENT.items():
        if name not in os.environ:
            os.environ[name] = value
            _set_here.append(name)

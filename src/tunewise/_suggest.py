"""``did you mean 'temperature'?``: the closest known spelling of a mistyped name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known`` to ``name``, or ``""`` when none is close."""
    choices = sorted(set(known))
    folded = {choice.lower().replace("-", "_"): choice for choice in choices}
    key = name.lower().replace("-", "_")
    if key in folded and folded[key] != name:
        return f" (did you mean {folded[key]!r}?)"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """``chat option 'temprature' is not known (did you mean 'temperature'?); known: ...``."""
    choices = sorted(set(known))
    return f"{kind} {name!r} is not known{did_you_mean(name, choices)}; known: {', '.join(choices)}"

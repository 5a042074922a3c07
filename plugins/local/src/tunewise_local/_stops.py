"""Stop sequences over a growing decoded text: what is safe to emit, and where to stop.

A streamed answer must never show a stop sequence, not even its first half: text that
could be the start of a stop sequence is held back until the next token settles it.
Pure functions, so the edge cases are tested directly.
"""

from __future__ import annotations

from collections.abc import Sequence

REPLACEMENT = "\ufffd"
"""What a byte-level tokenizer decodes half of a multi-byte character to."""


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some stop sequence."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


def scan(text: str, emitted: int, stops: Sequence[str], *, final: bool = False) -> tuple[int, bool]:
    """Where the emittable text ends, and whether a stop sequence was found.

    ``text`` is everything decoded so far, ``emitted`` how much of it was already
    sent. Returns ``(end, stopped)``: send ``text[emitted:end]``; when ``stopped``, the
    answer ends at ``end`` (the stop sequence itself is never included). ``final``
    means no token follows, so nothing needs holding back.
    """
    if stops:
        start = max(0, emitted - max(len(s) for s in stops))
        found = [i for i in (text.find(s, start) for s in stops if s) if i >= 0]
        if found:
            return max(emitted, min(found)), True
    if final:
        return len(text.rstrip(REPLACEMENT)), False
    end = len(text) - (held_back(text, stops) if stops else 0)
    while end > emitted and text[end - 1] == REPLACEMENT:
        end -= 1
    return max(end, emitted), False

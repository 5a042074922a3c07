"""The instruction search of the ``optimized_prompt`` rung, in the spirit of APE and OPRO.

An optimizer model reads the instructions tried so far with their dev scores, and the
dev-set cases the best one still gets wrong, then writes a few new candidate
instructions. Each candidate is scored on the dev split with the evaluation runner; the
best instruction seen is kept. Pure text in, text out here; the ladder does the I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_INSTRUCTION = "You are a helpful assistant. Answer the user's question accurately and concisely."

_TAGGED = re.compile(r"<instruction>\s*(.+?)\s*</instruction>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Failure:
    """A dev case the current best instruction got wrong."""

    question: str
    expected: str
    got: str
    score: float


def writer_prompt(
    tried: Sequence[tuple[str, float]], failures: Sequence[Failure], *, n: int, metric: str
) -> tuple[str, str]:
    """(system, user) messages asking for ``n`` new instructions (OPRO's meta-prompt: history sorted by score)."""
    system = (
        "You improve system prompts (instructions) for an assistant. You are shown instructions already tried, "
        f"each with its {metric} score on a development set (higher is better), and cases the best one still gets "
        "wrong. Write new instructions that fix those failures without breaking what works: say what the answers "
        "must contain, their format, tone and length. Do not copy the cases' answers into the instruction."
    )
    history = "\n".join(
        f"<tried score={score:.3f}>\n{text}\n</tried>" for text, score in sorted(tried, key=lambda item: item[1])
    )
    cases = "\n\n".join(
        f"Case {i}:\nUser: {f.question}\nExpected: {f.expected}\nGot: {f.got}\nScore: {f.score:.2f}"
        for i, f in enumerate(failures, 1)
    )
    user = (
        f"Instructions tried so far (worst first):\n{history}\n\n"
        f"Cases the best instruction gets wrong:\n{cases or '(none)'}\n\n"
        f"Write {n} different new instructions. Put each one between <instruction> and </instruction>."
    )
    return system, user


def parse_candidates(text: str, *, n: int, seen: Sequence[str] = ()) -> list[str]:
    """Up to ``n`` new instructions from the optimizer's answer, without repeats of ``seen``.

    Tagged blocks are preferred; without tags, numbered or bulleted items are taken.
    """
    found = [m.group(1).strip() for m in _TAGGED.finditer(text)]
    if not found:
        items = re.split(r"(?m)^\s*(?:\d+[.)]|[-*])\s+", text)
        found = [item.strip() for item in items if len(item.split()) >= 4]
    known = {" ".join(s.split()).lower() for s in seen}
    out: list[str] = []
    for candidate in found:
        key = " ".join(candidate.split()).lower()
        if candidate and key not in known:
            known.add(key)
            out.append(candidate)
        if len(out) == n:
            break
    return out

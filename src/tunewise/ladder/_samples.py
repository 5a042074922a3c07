"""Sample answers side by side: a few test cases per group, each rung's answer with its key phrases marked.

The cases are chosen by a rule the report states (`RULE`): per group, the cases where the
rungs' per-case scores on the target metric differ most, then one typical case. Answers are
untrusted text: they are kept as plain `Segment` strings (marked or not) and the templates
escape every one of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunewise.evaluation import CaseResult, MustContain, group_of
from tunewise.evaluation._cases import case_from_mapping

DISAGREEING = 2
"""Per group: the cases where the rungs disagree most (then one typical case)."""
ANSWER_CHARS = 360
"""An answer longer than this is cut with a visible "…"; the whole of it is one click away."""
TEXT_CHARS = 300
"""The same for questions and references."""
ALL = "all cases"
"""The one group when the ladder has no ``report.group_by``."""


def rule(metric: str, group_by: str | None) -> str:
    """The selection rule, in the words the report prints."""
    per = f"each {group_by}" if group_by else "the test split"
    return (
        f"For {per}: the {DISAGREEING} test cases where the rungs' {metric} scores differ most "
        f"(highest minus lowest; ties in test-file order), then the most typical case (the one whose scores "
        f"are closest to every rung's mean {metric} there). An error counts as 0, as in the means."
    )


@dataclass(frozen=True)
class Segment:
    """A run of answer text; ``mark`` when it is one of the case's key phrases, found."""

    text: str
    mark: bool = False


@dataclass(frozen=True)
class Clip:
    """Text as shown: ``short`` (cut with "…" when long) and, when it was cut, the ``full`` text."""

    short: tuple[Segment, ...]
    full: tuple[Segment, ...] | None = None

    @property
    def cut(self) -> bool:
        return self.full is not None


@dataclass(frozen=True)
class SampleAnswer:
    rung: str
    text: Clip | None
    """``None`` when the rung failed on this case (``error`` says why)."""
    scores: dict[str, float | None]
    """Per metric, the target first; ``None``: the metric does not apply (or the rung has no result)."""
    matched: tuple[str, ...] = ()
    missed: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class SampleCase:
    group: str
    case_id: str
    why: str
    question: Clip
    reference: Clip | None
    phrases: tuple[str, ...]
    answers: tuple[SampleAnswer, ...]


@dataclass(frozen=True)
class Samples:
    rule: str
    metrics: tuple[str, ...]
    cases: tuple[SampleCase, ...]
    note: str | None = None
    """Why there are none (no run store beside the state, say)."""

    def by_group(self) -> list[tuple[str, list[SampleCase]]]:
        out: dict[str, list[SampleCase]] = {}
        for case in self.cases:
            out.setdefault(case.group, []).append(case)
        return list(out.items())


def must_contain_metric(specs: Sequence[str | Mapping[str, Any]]) -> MustContain | None:
    """The first ``must_contain`` metric among the ladder's metric specs (its key, case and folding rules)."""
    for spec in specs:
        table = {"type": spec} if isinstance(spec, str) else dict(spec)
        if table.pop("type", None) == "must_contain":
            try:
                return MustContain(**table)
            except (TypeError, ValueError):
                return None
    return None


def choose(
    results: Mapping[str, Sequence[CaseResult]],
    *,
    metric: str,
    metrics: Sequence[str],
    group_by: str | None,
    phrases_by: MustContain | None,
) -> list[SampleCase]:
    """The sample cases of `rule` with every rung's answer, in group order (test-file order)."""
    by_rung = {rung: {r.case_id: r for r in rows} for rung, rows in results.items()}
    first: dict[str, CaseResult] = {}
    for rows in results.values():
        for r in rows:
            first.setdefault(r.case_id, r)
    cases = sorted(first.values(), key=lambda r: r.case_index)
    groups: dict[str, list[CaseResult]] = {}
    for r in cases:
        groups.setdefault(group_of(r.case, group_by) if group_by else ALL, []).append(r)
    rungs = list(results)
    chosen: list[SampleCase] = []
    for group, members in groups.items():
        scores = {m.case_id: {rung: _score(by_rung[rung].get(m.case_id), metric) for rung in rungs} for m in members}
        means = {}
        for rung in rungs:
            column = [v for s in scores.values() if (v := s[rung]) is not None]
            means[rung] = sum(column) / len(column) if column else None
        picks: list[tuple[CaseResult, str]] = []
        spreads = []
        for m in members:
            values: list[float] = [v for v in scores[m.case_id].values() if v is not None]
            if len(values) >= 2 and max(values) > min(values):
                spreads.append((max(values) - min(values), m, min(values), max(values)))
        spreads.sort(key=lambda item: (-item[0], item[1].case_index))
        for _, m, low, high in spreads[:DISAGREEING]:
            picks.append((m, f"the rungs differ most here: {metric} from {low:.2f} to {high:.2f}"))
        taken = {m.case_id for m, _ in picks}
        rest = [m for m in members if m.case_id not in taken and _distance(scores[m.case_id], means) is not None]
        if rest:
            typical = min(rest, key=lambda m: (_distance(scores[m.case_id], means), m.case_index))
            picks.append((typical, f"a typical case: close to every rung's mean {metric} on {group}"))
        for m, why in picks:
            chosen.append(_sample(group, m, why, by_rung, rungs, metrics, phrases_by))
    return chosen


def _score(result: CaseResult | None, metric: str) -> float | None:
    if result is None:
        return None
    if result.status == "error":
        return 0.0
    return result.scores.get(metric)


def _distance(scores: Mapping[str, float | None], means: Mapping[str, float | None]) -> float | None:
    pairs = [(v, means[rung]) for rung, v in scores.items() if v is not None and means[rung] is not None]
    if not pairs:
        return None
    return sum(abs(v - (m or 0.0)) for v, m in pairs) / len(pairs)


def _sample(
    group: str,
    result: CaseResult,
    why: str,
    by_rung: Mapping[str, Mapping[str, CaseResult]],
    rungs: Sequence[str],
    metrics: Sequence[str],
    phrases_by: MustContain | None,
) -> SampleCase:
    try:
        case = case_from_mapping(result.case, default_id=result.case_id)
        phrases = tuple(phrases_by.phrases(case)) if phrases_by is not None else ()
        question = case.question
    except ValueError:
        phrases, question = (), ""
    answers = []
    for rung in rungs:
        found = by_rung[rung].get(result.case_id)
        scores = {m: _score(found, m) for m in metrics}
        if found is None or found.status == "error":
            error = "no answer (not run)" if found is None else (found.error or "error")
            answers.append(SampleAnswer(rung=rung, text=None, scores=scores, error=error))
            continue
        text = found.response or ""
        matched = tuple(p for p in phrases if phrases_by is not None and phrases_by.found(p, text))
        missed = tuple(p for p in phrases if p not in matched)
        segments = mark(tidy(text), matched, phrases_by)
        answers.append(
            SampleAnswer(rung=rung, text=clip(segments, ANSWER_CHARS), scores=scores, matched=matched, missed=missed)
        )
    reference = result.case.get("reference")
    return SampleCase(
        group=group,
        case_id=result.case_id,
        why=why,
        question=clip((Segment(question),), TEXT_CHARS),
        reference=clip((Segment(reference),), TEXT_CHARS) if isinstance(reference, str) else None,
        phrases=phrases,
        answers=tuple(answers),
    )


def tidy(text: str) -> str:
    """An answer as shown: no blank lines before or after it, at most one blank line in a row inside it.

    Only white space changes (the marks still find every phrase); an answer of white space alone
    shows as empty.
    """
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def clip(segments: Sequence[Segment], limit: int) -> Clip:
    """``segments`` cut at ``limit`` characters with a trailing "…" (and the whole kept), or as they are."""
    whole = tuple(s for s in segments if s.text)
    if sum(len(s.text) for s in whole) <= limit:
        return Clip(short=whole)
    short: list[Segment] = []
    left = limit
    for s in whole:
        if left <= 0:
            break
        short.append(Segment(s.text[:left], s.mark))
        left -= len(s.text)
    short.append(Segment("…"))
    return Clip(short=tuple(short), full=whole)


def _pattern(phrase: str, metric: MustContain) -> re.Pattern[str] | None:
    """Where ``phrase`` is in the original answer text, folded as the metric folds it."""
    if metric.normalize:  # punctuation and symbols fold to spaces: only the words are left to find
        words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", phrase))
        gap = r"[\W_]+"
        needle = " ".join(words)
    else:
        words = phrase.split()
        gap = r"\s+"
        needle = " ".join(words)
    if not words:
        return None
    body = gap.join(re.escape(w) for w in words)
    if needle[:1].isalnum() or needle[:1] == "_":
        body = r"(?<!\w)" + body
    if needle[-1:].isalnum() or needle[-1:] == "_":
        body += r"(?!\w)"
    return re.compile(body, 0 if metric.case_sensitive else re.IGNORECASE)


def mark(text: str, phrases: Sequence[str], metric: MustContain | None) -> tuple[Segment, ...]:
    """``text`` split into segments, the places where ``phrases`` were found marked.

    A phrase the metric found but whose place cannot be pointed at in the original text (a Unicode
    folding of ``normalize=True``) is still listed as found; it is only not highlighted.
    """
    if metric is None or not phrases or not text:
        return (Segment(text),) if text else ()
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        pattern = _pattern(phrase, metric)
        if pattern is not None:
            spans += [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[Segment] = []
    at = 0
    for start, end in merged:
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], mark=True))
        at = end
    if at < len(text):
        out.append(Segment(text[at:]))
    return tuple(out)

"""Metrics: how good is one answer to one case? Each returns a [`Score`][tunewise.evaluation.Score] in [0, 1].

A metric is ``binary`` when it is pass/fail (its comparisons use McNemar's exact test)
or graded (a paired permutation test of the mean difference). A metric that does not apply
to a case (``must_contain`` on a case without key phrases) returns ``Score(value=None)``: the
case has no score on it, neither 0 nor 1. Plain Python functions work too: ``fn(answer, case)``
returning ``bool`` (pass/fail), a number in [0, 1] or ``None`` (not applicable).
"""

from __future__ import annotations

import inspect
import json
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from tunewise._errors import ConfigError
from tunewise._types import Message, Usage
from tunewise.evaluation._cases import Case
from tunewise.interfaces.strategy import Answer

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._refs import ModelRef
    from tunewise._registry import Registry
    from tunewise.interfaces.embedder import Embedder


class Score(BaseModel):
    """One metric's verdict on one answer. ``usage``/``model_ref`` are set when scoring called a model.

    ``value=None``: the metric does not apply to this case (``detail`` says why). The runner
    then stores no score for it, so means, intervals and comparisons leave the case out
    instead of counting it as a pass or a fail.
    """

    model_config = ConfigDict(frozen=True)

    value: float | None
    detail: str | None = None
    usage: Usage | None = None
    model_ref: str | None = None


@runtime_checkable
class Metric(Protocol):
    name: str
    binary: bool

    async def score(self, case: Case, answer: Answer) -> Score: ...


# --- text normalisation ----------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    """SQuAD-style normalisation: NFKC, lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall after [`normalize()`][tunewise.evaluation.normalize] (SQuAD's F1)."""
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _reference(case: Case, metric: str) -> str:
    if case.reference is None:
        raise ConfigError(f"metric {metric!r} needs a reference answer, and case {case.id!r} has none")
    return case.reference


# --- deterministic metrics -------------------------------------------------------------


class ExactMatch:
    """The answer equals the reference (after `normalize()` unless ``normalized=False``)."""

    binary = True

    def __init__(self, *, normalized: bool = True, name: str = "exact_match") -> None:
        self.name = name
        self.normalized = normalized

    async def score(self, case: Case, answer: Answer) -> Score:
        reference = _reference(case, self.name)
        if self.normalized:
            return Score(value=float(normalize(answer.text) == normalize(reference)))
        return Score(value=float(answer.text.strip() == reference.strip()))


class Contains:
    """The answer contains ``text`` (default: the reference), case-insensitively unless asked."""

    binary = True

    def __init__(self, text: str | None = None, *, case_sensitive: bool = False, name: str = "contains") -> None:
        self.name = name
        self.text = text
        self.case_sensitive = case_sensitive

    async def score(self, case: Case, answer: Answer) -> Score:
        needle = self.text if self.text is not None else _reference(case, self.name)
        haystack = answer.text
        if not self.case_sensitive:
            needle, haystack = needle.casefold(), haystack.casefold()
        return Score(value=float(needle.strip() in haystack))


class RegexMatch:
    """The answer matches ``pattern`` (``re.search``); ``{reference}`` in it is the escaped reference."""

    binary = True

    def __init__(self, pattern: str, *, flags: int = re.IGNORECASE, name: str = "regex") -> None:
        self.name = name
        self.pattern = pattern
        self.flags = flags
        if "{reference}" not in pattern:
            re.compile(pattern, flags)

    async def score(self, case: Case, answer: Answer) -> Score:
        pattern = self.pattern
        if "{reference}" in pattern:
            pattern = pattern.replace("{reference}", re.escape(_reference(case, self.name)))
        return Score(value=float(re.search(pattern, answer.text, self.flags) is not None))


class MustContain:
    """The answer holds the case's key phrases: ``case.metadata[key]`` (default ``"must_contain"``).

    ``mode="all"`` (default) passes when every phrase is there, ``mode="any"`` when at least
    one is; ``mode="fraction"`` scores the share of phrases found (a graded score: 2 of 3 is
    0.667), which tells an answer with the right greeting and sign-off but a wrong menu path
    from one with none of them. Matching ignores case (``case_sensitive=True`` to respect it), takes any run of
    spaces and line breaks as one space, and respects word edges: ``"60 minutes"`` is not
    found in ``"160 minutes"``, nor ``"$8"`` in ``"$80"``. ``normalize=True`` also folds
    Unicode forms and treats punctuation and symbols as spaces, so ``"Settings -> Billing"``
    matches ``"Settings → Billing"`` and ``"— Lumen Support"`` matches ``"- Lumen Support"``.
    ``Score.detail`` names the missing phrases. A case without the key (or with an empty
    list) is not applicable: ``Score(value=None)``, never a free pass.
    """

    binary = True

    def __init__(
        self,
        *,
        key: str = "must_contain",
        mode: str = "all",
        case_sensitive: bool = False,
        normalize: bool = False,
        name: str = "must_contain",
    ) -> None:
        if mode not in ("all", "any", "fraction"):
            raise ValueError(f"mode must be 'all', 'any' or 'fraction', got {mode!r}")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a metadata key (a non-empty string)")
        self.name = name
        self.key = key
        self.mode = mode
        self.binary = mode != "fraction"
        self.case_sensitive = case_sensitive
        self.normalize = normalize

    def phrases(self, case: Case) -> list[str]:
        """The case's key phrases (empty when it has none); a bad value raises naming the case."""
        raw = case.metadata.get(self.key)
        if raw is None:
            return []
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise ValueError(f"case {case.id!r}: metadata.{self.key} must be a string or a list of strings")
        return [p for p in items if p.strip()]

    def _fold(self, text: str) -> str:
        if self.normalize:
            text = unicodedata.normalize("NFKC", text)
            text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
        text = " ".join(text.split())
        return text if self.case_sensitive else text.casefold()

    def found(self, phrase: str, answer: str) -> bool:
        """``phrase`` in ``answer`` with this metric's folding, at word edges where the phrase has them."""
        needle = self._fold(phrase)
        if not needle:
            return False
        pattern = re.escape(needle)
        if needle[0].isalnum() or needle[0] == "_":
            pattern = r"(?<!\w)" + pattern
        if needle[-1].isalnum() or needle[-1] == "_":
            pattern += r"(?!\w)"
        return re.search(pattern, self._fold(answer)) is not None

    async def score(self, case: Case, answer: Answer) -> Score:
        phrases = self.phrases(case)
        if not phrases:
            return Score(value=None, detail=f"not applicable: no metadata.{self.key}")
        missing = [p for p in phrases if not self.found(p, answer.text)]
        if self.mode == "fraction":
            detail = "missing: " + "; ".join(repr(p) for p in missing) if missing else None
            return Score(value=(len(phrases) - len(missing)) / len(phrases), detail=detail)
        if self.mode == "any":
            if len(missing) < len(phrases):
                return Score(value=1.0)
            return Score(value=0.0, detail="none of: " + "; ".join(repr(p) for p in phrases))
        if not missing:
            return Score(value=1.0)
        return Score(value=0.0, detail="missing: " + "; ".join(repr(p) for p in missing))


_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(?P<body>.*)\n\s*```\s*$", re.DOTALL)


class JsonSchemaValid:
    """The answer is JSON valid against ``schema`` (default: the case's ``metadata["schema"]``).

    A single Markdown code fence around the JSON is tolerated unless ``allow_fence=False``.
    ``Score.detail`` says what failed.
    """

    binary = True

    def __init__(
        self, schema: Mapping[str, Any] | None = None, *, allow_fence: bool = True, name: str = "json_schema"
    ) -> None:
        import jsonschema

        self.name = name
        self.schema = dict(schema) if schema is not None else None
        self.allow_fence = allow_fence
        if self.schema is not None:
            jsonschema.Draft202012Validator.check_schema(self.schema)

    async def score(self, case: Case, answer: Answer) -> Score:
        import jsonschema

        schema = self.schema if self.schema is not None else case.metadata.get("schema")
        if not isinstance(schema, Mapping):
            raise ConfigError(f"metric {self.name!r}: no schema given and case {case.id!r} has no metadata.schema")
        text = answer.text
        fence = _FENCE.match(text) if self.allow_fence else None
        if fence:
            text = fence.group("body")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return Score(value=0.0, detail=f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(dict(schema)).iter_errors(value))
        if error is not None:
            path = "/".join(str(p) for p in error.absolute_path) or "(root)"
            return Score(value=0.0, detail=f"{path}: {error.message}")
        return Score(value=1.0)


class TokenF1:
    """Token-overlap F1 between answer and reference (graded)."""

    binary = False

    def __init__(self, *, name: str = "token_f1") -> None:
        self.name = name

    async def score(self, case: Case, answer: Answer) -> Score:
        return Score(value=token_f1(answer.text, _reference(case, self.name)))


class EmbeddingCosine:
    """Cosine similarity of answer and reference embeddings, with any [`Embedder`][tunewise.Embedder].

    Negative similarities are clipped to 0 so scores stay in [0, 1]. With ``threshold`` the
    metric becomes pass/fail (similarity >= threshold).
    """

    def __init__(self, embedder: Embedder, *, threshold: float | None = None, name: str = "embedding_cosine") -> None:
        self.name = name
        self.embedder = embedder
        self.threshold = threshold
        self.binary = threshold is not None

    async def score(self, case: Case, answer: Answer) -> Score:
        import numpy as np

        a, b = await self.embedder.embed([answer.text, _reference(case, self.name)])
        va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
        cosine = max(0.0, float(va @ vb) / denominator) if denominator else 0.0
        if self.threshold is not None:
            return Score(value=float(cosine >= self.threshold), detail=f"cosine {cosine:.4f}")
        return Score(value=min(cosine, 1.0))


class FunctionMetric:
    """A plain function as a metric: ``fn(answer_text, case)``, sync or async, returning bool, number or Score.

    ``None`` means the metric does not apply to this case (no score, see [`Score`][tunewise.evaluation.Score]).
    """

    def __init__(
        self,
        fn: Callable[[str, Case], Any],
        *,
        name: str | None = None,
        binary: bool | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "custom"))
        return_type = inspect.signature(fn).return_annotation
        self.binary = binary if binary is not None else return_type in (bool, "bool")

    async def score(self, case: Case, answer: Answer) -> Score:
        result = self.fn(answer.text, case)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Score):
            return result
        if result is None:
            return Score(value=None, detail="not applicable")
        if isinstance(result, bool):
            return Score(value=float(result))
        if isinstance(result, int | float):
            value = float(result)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"metric {self.name!r} returned {value}, outside [0, 1]")
            return Score(value=value)
        raise TypeError(f"metric {self.name!r} returned {type(result).__name__}; expected bool, float, None or Score")


# --- LLM as judge ---------------------------------------------------------------------

DEFAULT_RUBRIC = (
    "Is the answer correct, complete and faithful to the reference? Minor wording differences do not matter."
)
_JUDGE_SYSTEM = (
    "You are a strict, fair grader. Read the question, the reference answer and the candidate answer, "
    "then grade the candidate with the rubric. Explain briefly, then end with a line 'Score: N' where N "
    "is an integer from {low} to {high}."
)
_SCORE_LINE = re.compile(r"(?im)^\W*score\W*\s*(\d+(?:\.\d+)?)")


class LLMJudge:
    """Pointwise LLM-as-judge: a rubric, a 1..5 (configurable) scale, normalised to [0, 1].

    The judge sees the question, the reference (if any) and the answer; ``Score.detail`` keeps
    its explanation, ``Score.usage`` its tokens (so judging costs show in the run). A reply
    without a parsable score line raises, which the runner records as that case's error.
    With ``pass_at`` the metric is pass/fail (raw score >= pass_at).
    """

    def __init__(
        self,
        model: Model | str | ModelRef,
        *,
        rubric: str = DEFAULT_RUBRIC,
        scale: tuple[int, int] = (1, 5),
        pass_at: int | None = None,
        name: str = "judge",
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        from tunewise.strategies._call import ModelCaller

        low, high = scale
        if high <= low:
            raise ValueError(f"judge scale must go up, got {scale}")
        self.name = name
        self.rubric = rubric
        self.scale = (low, high)
        self.pass_at = pass_at
        self.binary = pass_at is not None
        self.caller = ModelCaller(model, registry, {"temperature": 0, **options})

    def messages(self, case: Case, answer: str) -> list[Message]:
        low, high = self.scale
        parts = [f"Question:\n{case.question}"]
        if case.reference is not None:
            parts.append(f"Reference answer:\n{case.reference}")
        parts += [f"Candidate answer:\n{answer}", f"Rubric:\n{self.rubric}"]
        return [Message.system(_JUDGE_SYSTEM.format(low=low, high=high)), Message.user("\n\n".join(parts))]

    async def score(self, case: Case, answer: Answer) -> Score:
        from tunewise.strategies._call import Recorder

        recorder = Recorder()
        response = await recorder.call(self.caller, self.messages(case, answer.text))
        matches = _SCORE_LINE.findall(response.text)
        low, high = self.scale
        if not matches:
            raise ValueError(f"judge {self.caller.ref} gave no 'Score: N' line")
        raw = float(matches[-1])
        if not low <= raw <= high:
            raise ValueError(f"judge {self.caller.ref} gave score {raw}, outside {low}..{high}")
        value = float(raw >= self.pass_at) if self.pass_at is not None else (raw - low) / (high - low)
        return Score(value=value, detail=response.text, usage=response.usage, model_ref=str(self.caller.ref))


_PAIR_SYSTEM = (
    "You compare two answers to the same question. Judge which better answers it with the rubric. "
    "Explain briefly, then end with a line 'Winner: 1', 'Winner: 2' or 'Winner: tie'."
)
_WINNER = re.compile(r"(?im)^\W*winner\W*\s*(1|2|tie)\b")


class PairwiseVerdict(BaseModel):
    """One pairwise judgement after position swapping: +1 B better, -1 A better, 0 tie or inconsistent."""

    model_config = ConfigDict(frozen=True)

    preference: int
    first: str
    swapped: str
    consistent: bool
    usage: Usage


class PairwiseJudge:
    """Pairwise A/B judging with position swapping, to cancel the judge's position bias.

    Each pair is judged twice, A first then B first. B wins only if it wins both times;
    a split decision counts as a tie (and ``consistent=False``).
    """

    def __init__(
        self,
        model: Model | str | ModelRef,
        *,
        rubric: str = DEFAULT_RUBRIC,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        from tunewise.strategies._call import ModelCaller

        self.rubric = rubric
        self.caller = ModelCaller(model, registry, {"temperature": 0, **options})

    def messages(self, case: Case, first: str, second: str) -> list[Message]:
        parts = [f"Question:\n{case.question}"]
        if case.reference is not None:
            parts.append(f"Reference answer:\n{case.reference}")
        parts += [f"Answer 1:\n{first}", f"Answer 2:\n{second}", f"Rubric:\n{self.rubric}"]
        return [Message.system(_PAIR_SYSTEM), Message.user("\n\n".join(parts))]

    async def _ask(self, case: Case, first: str, second: str) -> tuple[str, Usage]:
        from tunewise.strategies._call import Recorder

        recorder = Recorder()
        response = await recorder.call(self.caller, self.messages(case, first, second))
        found = _WINNER.findall(response.text)
        if not found:
            raise ValueError(f"pairwise judge {self.caller.ref} gave no 'Winner:' line")
        return found[-1].lower(), response.usage

    async def compare(self, case: Case, answer_a: str, answer_b: str) -> PairwiseVerdict:
        """Judge A vs B, then B vs A; the preference counts only when both orders agree."""
        first, usage_1 = await self._ask(case, answer_a, answer_b)
        swapped, usage_2 = await self._ask(case, answer_b, answer_a)
        b_wins = first == "2" and swapped == "1"
        a_wins = first == "1" and swapped == "2"
        ties = first == "tie" and swapped == "tie"
        preference = 1 if b_wins else -1 if a_wins else 0
        return PairwiseVerdict(
            preference=preference,
            first=first,
            swapped=swapped,
            consistent=b_wins or a_wins or ties,
            usage=usage_1 + usage_2,
        )


# --- from config -------------------------------------------------------------------------

MetricLike = Metric | Callable[[str, Case], Any] | str | Mapping[str, Any]


def as_metric(
    spec: MetricLike, *, registry: Registry | None = None, embedders: Mapping[str, Embedder] | None = None
) -> Metric:
    """A metric from an object, a function, a name (``"exact_match"``) or a config table.

    Tables: ``{type = "regex", pattern = "..."}``, ``{type = "contains", text = "..."}``,
    ``{type = "must_contain", key = "must_contain", mode = "all"}``,
    ``{type = "json_schema", schema = {...}}``, ``{type = "embedding_cosine", embedder = "hashing"}``,
    ``{type = "judge", model = "openai:gpt-4o", rubric = "..."}``,
    ``{type = "python", function = "package.module:function"}``; all take ``name``.
    """
    if isinstance(spec, str):
        spec = {"type": spec}
    if isinstance(spec, Mapping):
        return _metric_from_table(dict(spec), registry, embedders or {})
    if isinstance(spec, Metric):
        return spec
    if callable(spec):
        return FunctionMetric(spec)
    raise ConfigError(f"not a metric: {spec!r}")


MetricBuilder = Callable[[dict[str, Any], "Registry | None"], Metric]
_METRIC_BUILDERS: dict[str, MetricBuilder] = {}


def register_metric(kind: str, builder: MetricBuilder) -> None:
    """Make ``{type = kind, ...}`` a metric in configs; ``builder(table_without_type, registry)`` returns it."""
    _METRIC_BUILDERS[kind] = builder


def _metric_from_table(spec: dict[str, Any], registry: Registry | None, embedders: Mapping[str, Embedder]) -> Metric:
    kind = spec.pop("type", None)
    where = f"metric {spec.get('name') or kind!r}"
    try:
        if isinstance(kind, str) and kind in _METRIC_BUILDERS:
            return _METRIC_BUILDERS[kind](spec, registry)
        if kind == "exact_match":
            return ExactMatch(**spec)
        if kind == "contains":
            return Contains(**spec)
        if kind == "regex":
            return RegexMatch(**spec)
        if kind == "must_contain":
            return MustContain(**spec)
        if kind == "json_schema":
            return JsonSchemaValid(**spec)
        if kind == "token_f1":
            return TokenF1(**spec)
        if kind == "embedding_cosine":
            from tunewise.strategies import BuildContext

            embedder = BuildContext(registry, embedders=embedders).embedder(spec.pop("embedder", "hashing"), where)
            return EmbeddingCosine(embedder, **spec)
        if kind == "judge":
            return LLMJudge(spec.pop("model"), registry=registry, **spec)
        if kind == "python":
            target = str(spec.pop("function"))
            return FunctionMetric(_import(target, where), **spec)
    except KeyError as exc:
        raise ConfigError(f"{where}: missing key {exc}") from None
    except (TypeError, ValueError, re.error) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    kinds = ", ".join(
        [
            "exact_match",
            "contains",
            "regex",
            "must_contain",
            "json_schema",
            "token_f1",
            "embedding_cosine",
            "judge",
            "python",
            *sorted(_METRIC_BUILDERS),
        ]
    )
    raise ConfigError(f"{where}: type must be one of {kinds}, got {kind!r}")


def _import(target: str, where: str) -> Callable[[str, Case], Any | Awaitable[Any]]:
    import importlib

    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ConfigError(f"{where}: function must be 'module:function', got {target!r}")
    try:
        fn = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import {target}: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"{where}: {target} is not callable")
    return fn  # type: ignore[no-any-return]

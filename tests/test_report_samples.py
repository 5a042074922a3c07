"""Which sample answers a ladder report shows, and how key phrases are marked in them."""

from __future__ import annotations

from typing import Any

import pytest

from tunewise import ChatRequest, ChatResponse, Message
from tunewise.evaluation import Case
from tunewise.evaluation._metrics import MustContain
from tunewise.evaluation._runstore import CaseResult
from tunewise.interfaces.strategy import Answer
from tunewise.ladder._samples import ALL, Segment, choose, clip, mark, must_contain_metric


def result(
    rung: str, i: int, score: float | None, *, kind: str = "kb", text: str = "", error: bool = False
) -> CaseResult:
    case: dict[str, Any] = {
        "id": f"c{i}",
        "input": [{"role": "user", "content": f"question {i}"}],
        "reference": f"reference {i}",
        "metadata": {"kind": kind, "must_contain": [f"fact {i}"]},
    }
    return CaseResult(
        run_id=f"run-{rung}",
        strategy=rung,
        case_id=f"c{i}",
        case_index=i,
        status="error" if error else "ok",
        case=case,
        response=None if error else text or f"answer {i} from {rung}",
        scores={} if error or score is None else {"f1": score},
        error="ProviderError: boom" if error else None,
    )


def world(table: dict[str, list[float | None]], kinds: list[str] | None = None) -> dict[str, list[CaseResult]]:
    """``table[rung]``: that rung's f1 per case; ``kinds``: each case's kind."""
    kinds = kinds or ["kb"] * len(next(iter(table.values())))
    return {
        rung: [result(rung, i, score, kind=kinds[i]) for i, score in enumerate(scores)]
        for rung, scores in table.items()
    }


def test_the_cases_where_rungs_differ_most_then_the_typical_one() -> None:
    results = world(
        {
            "zero_shot": [0.1, 0.0, 0.5, 0.2, 0.3, 0.2],
            "rag": [0.2, 0.9, 0.5, 0.6, 0.3, 0.5],
            "fine_tune": [0.3, 0.1, 0.5, 0.9, 0.3, 0.6],
        }
    )
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=None)
    assert [c.case_id for c in chosen] == ["c1", "c3", "c5"]
    assert chosen[0].why == "the rungs differ most here: f1 from 0.00 to 0.90"
    assert chosen[1].why == "the rungs differ most here: f1 from 0.20 to 0.90"
    # means: zero_shot 0.217, rag 0.5, fine_tune 0.45; c5 (0.2, 0.5, 0.6) is the closest
    assert chosen[2].why == "a typical case: close to every rung's mean f1 on kb"
    assert [a.rung for a in chosen[0].answers] == ["zero_shot", "rag", "fine_tune"]
    assert [a.scores["f1"] for a in chosen[0].answers] == [0.0, 0.9, 0.1]


def test_ties_go_in_test_file_order_and_each_group_is_chosen_apart() -> None:
    results = world(
        {"a": [0.0, 0.0, 0.0, 0.0, 1.0, 0.5], "b": [1.0, 1.0, 1.0, 0.0, 0.0, 0.5]},
        kinds=["style", "kb", "style", "kb", "style", "kb"],
    )
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=None)
    assert [(c.group, c.case_id) for c in chosen] == [
        ("style", "c0"),
        ("style", "c2"),
        ("style", "c4"),
        ("kb", "c1"),  # the only kb case where the rungs differ
        ("kb", "c5"),  # then the typical one: means a 0.17, b 0.50; c5 (0.5, 0.5) is nearer than c3 (0, 0)
    ]


def test_when_no_rung_differs_only_the_typical_case_is_shown() -> None:
    results = world({"a": [0.5, 0.5, 0.5], "b": [0.5, 0.5, 0.5]})
    chosen = choose(results, metric="f1", metrics=["f1"], group_by=None, phrases_by=None)
    assert [(c.group, c.case_id, c.why.split(":")[0]) for c in chosen] == [(ALL, "c0", "a typical case")]


def test_an_error_counts_as_zero_and_shows_its_cause() -> None:
    results = world({"a": [0.8, 0.7], "b": [0.8, 0.7]})
    results["b"][1] = result("b", 1, None, error=True)
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=None)
    assert chosen[0].case_id == "c1" and chosen[0].why.endswith("from 0.00 to 0.70")
    failed = chosen[0].answers[1]
    assert failed.text is None and failed.error == "ProviderError: boom" and failed.scores == {"f1": 0.0}


def test_a_rung_without_an_answer_to_a_case_says_so() -> None:
    results = world({"a": [0.2, 0.9], "b": [0.1, 0.3]})
    results["b"] = results["b"][:1]
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=None)
    missing = next(c for c in chosen if c.case_id == "c1").answers[1]
    assert missing.error == "no answer (not run)" and missing.scores == {"f1": None}


def test_key_phrases_found_and_missed_per_rung() -> None:
    results = {
        "a": [result("a", 0, 0.0, text="We have FACT 0 here.")],
        "b": [result("b", 0, 1.0, text="Nothing.")],
    }
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=MustContain())
    a, b = chosen[0].answers
    assert chosen[0].phrases == ("fact 0",)
    assert (a.matched, a.missed, b.matched, b.missed) == (("fact 0",), (), (), ("fact 0",))
    assert a.text is not None and a.text.short == (Segment("We have "), Segment("FACT 0", True), Segment(" here."))


def texts(segments: tuple[Segment, ...]) -> list[tuple[str, bool]]:
    return [(s.text, s.mark) for s in segments]


@pytest.mark.parametrize(
    ("answer", "phrases", "metric", "marked"),
    [
        ("Reset it in Settings -> Billing.", ["settings -> billing"], MustContain(), ["Settings -> Billing"]),
        ("Go to Settings\n   -> Billing now", ["Settings -> Billing"], MustContain(), ["Settings\n   -> Billing"]),
        ("Go to Settings → Billing", ["Settings -> Billing"], MustContain(normalize=True), ["Settings → Billing"]),
        ("Thanks! — Lumen Support", ["- Lumen Support"], MustContain(normalize=True), ["Lumen Support"]),
        ("It takes 160 minutes, not 60 minutes.", ["60 minutes"], MustContain(), ["60 minutes"]),
        ("Costs $80.", ["$8"], MustContain(), []),
        ("Hi there and hi again", ["hi"], MustContain(), ["Hi", "hi"]),
        ("Say HELLO", ["hello"], MustContain(case_sensitive=True), []),
        ("one two three", ["one two", "two three"], MustContain(), ["one two three"]),  # overlaps merge
        ("a <b>bold</b> claim", ["<b>bold</b>"], MustContain(), ["<b>bold</b>"]),
    ],
)
def test_marks_point_at_the_phrases_as_the_metric_finds_them(
    answer: str, phrases: list[str], metric: MustContain, marked: list[str]
) -> None:
    found = [p for p in phrases if metric.found(p, answer)]
    segments = mark(answer, found, metric)
    assert "".join(s.text for s in segments) == answer  # nothing lost, nothing added
    assert [s.text for s in segments if s.mark] == marked


@pytest.mark.anyio
async def test_what_is_marked_is_what_the_metric_counts() -> None:
    metric = MustContain(mode="fraction")
    case = Case.of("q", id="c", must_contain=["60 minutes", "Settings -> Billing", "Lumen"])
    answer = "In 60 minutes, via settings  ->  billing. Thanks, Lumen!"
    request = ChatRequest(model="m", messages=(Message.user("q"),))
    reply = Answer(strategy="s", response=ChatResponse(text=answer, model="m"), requests=(request,))
    score = await metric.score(case, reply)
    segments = mark(answer, [p for p in metric.phrases(case) if metric.found(p, answer)], metric)
    assert score.value == 1.0 and len([s for s in segments if s.mark]) == 3


def test_long_text_is_cut_with_an_ellipsis_and_kept_whole() -> None:
    segments = (Segment("x" * 10), Segment("key", True), Segment("y" * 10))
    short = clip(segments, 12)
    assert texts(short.short) == [("x" * 10, False), ("ke", True), ("…", False)]
    assert short.full == segments and short.cut
    whole = clip(segments, 23)
    assert whole.short == segments and not whole.cut


def test_the_must_contain_metric_is_found_among_the_ladder_metrics() -> None:
    assert must_contain_metric(["token_f1"]) is None
    found = must_contain_metric(["token_f1", {"type": "must_contain", "key": "facts", "normalize": True}])
    assert found is not None and found.key == "facts" and found.normalize
    plain = must_contain_metric(["must_contain"])
    assert plain is not None and plain.key == "must_contain"


def test_blank_lines_around_an_answer_are_dropped_and_one_of_white_space_is_empty() -> None:
    results = {
        "a": [result("a", 0, 0.0, text="\n\n  \n\n")],
        "b": [result("b", 0, 1.0, text="\n\nHi there!\n\n\n\n\nfact 0 it is.   \n\n")],
    }
    chosen = choose(results, metric="f1", metrics=["f1"], group_by="kind", phrases_by=MustContain())
    empty, spaced = chosen[0].answers
    assert empty.text is not None and empty.text.short == () and empty.missed == ("fact 0",)
    assert spaced.text is not None
    assert texts(spaced.text.short) == [("Hi there!\n\n", False), ("fact 0", True), (" it is.", False)]

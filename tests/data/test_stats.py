"""Statistics and estimates: known answers worked out by hand, quantiles against numpy, OpenAI's epoch rule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunewise.data import Histogram, analyze, billed_tokens, default_epochs, training_cost, training_token_limit


def _chat(user: str, assistant: str, system: str | None = None) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {"messages": [*messages, {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (3, 25), (4, 25), (5, 20), (10, 10), (33, 3), (34, 3), (100, 3), (8333, 3), (8334, 2), (12_500, 2),
     (12_501, 1), (25_000, 1), (1_000_000, 1)],
)  # fmt: skip
def test_default_epochs_follow_openais_rule(n: int, epochs: int) -> None:
    # 3 epochs unless n*3 < 100 (then 100 // n, at most 25) or n*3 > 25000 (then 25000 // n, at least 1)
    assert default_epochs(n) == epochs


def test_training_token_limit_by_model(write_jsonl: Callable[..., Path]) -> None:
    assert training_token_limit("gpt-4o-mini-2024-07-18") == 65_536
    assert training_token_limit("openai:ft:gpt-4o-2024-08-06:org::x") == 65_536
    assert training_token_limit("gpt-3.5-turbo-0125") == 16_385
    assert training_token_limit("o3-mini") is None
    path = write_jsonl([_chat("Hi", "Hello")] * 10)
    assert analyze(path, model="gpt-4o-mini").max_tokens == 65_536
    assert analyze(path, model="o4-mini").max_tokens == 16_385
    assert analyze(path, model="gpt-4o-mini", max_tokens=100).max_tokens == 100


def test_billed_tokens_cap_each_example_and_cost_scales() -> None:
    assert billed_tokens([10, 5000, 4096, 4097], max_tokens=4096) == 10 + 4096 + 4096 + 4096
    assert training_cost(2_000_000, 3.0) == pytest.approx(6.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=300))
def test_histogram_summary_equals_numpy(values: list[int]) -> None:
    h = Histogram()
    for v in values:
        h.add(v)
    s = h.summary()
    assert (s.n, s.min, s.max) == (len(values), min(values), max(values))
    assert s.mean == pytest.approx(np.mean(values))
    for q, got in ((0.5, s.median), (0.1, s.p10), (0.9, s.p90)):
        assert got == pytest.approx(float(np.quantile(values, q)))


def test_known_answer_stats(write_jsonl: Callable[..., Path]) -> None:
    # cl100k_base counts (checked against tiktoken): "Be brief." = 3, "Hi" = 1, "Hello" = 1,
    # "What is 2+2?" = 7, "4" = 1, each role = 1.
    rows = (
        [_chat("Hi", "Hello", system="Be brief.")] * 6  # 3 + 3 msgs x 4 + 3 + 1 + 1 = 20; assistant 1
        + [_chat("What is 2+2?", "4")] * 4  # 3 + 2 x 4 + 7 + 1 = 19; assistant 1
        + [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "Hello"}]}]
        # ^ 3 + 2 x 4 + 3 + 1 = 15, no user message
    )
    report = analyze(write_jsonl(rows), encoding="cl100k_base", max_tokens=19, price_per_1m_training_tokens=25.0)
    assert report.ok and report.n_examples == report.n_valid == 11
    assert report.n_missing_system == 4 and report.n_missing_user == 1
    totals = sorted([20] * 6 + [19] * 4 + [15])
    assert report.total_tokens.to_dict() == {
        "min": 15,
        "max": 20,
        "mean": pytest.approx(sum(totals) / 11),
        "median": 20.0,  # the 6th of 11 sorted values
        "p10": 19.0,  # position 1.0 -> the 2nd smallest
        "p90": 20.0,
    }
    assert report.assistant_tokens.to_dict() == {"min": 1, "max": 1, "mean": 1.0, "median": 1.0, "p10": 1.0, "p90": 1.0}
    assert report.n_over_limit == 6  # the 20-token examples, over the 19-token limit
    assert report.billed_tokens_per_epoch == 6 * 19 + 4 * 19 + 15 == 205
    assert report.default_epochs == report.epochs == 9  # 11 x 3 < 100 -> 100 // 11
    assert report.billed_training_tokens == 205 * 9
    assert report.estimated_cost == pytest.approx(205 * 9 * 25.0 / 1e6)
    assert report.warnings == {"few_examples": 1, "too_many_tokens": 6}
    over = [p for p in report.problems if p.code == "too_many_tokens"]
    assert (
        str(over[0])
        == f"{report.path}:1: warning: 20 tokens, over the 19-token limit; training truncates it [too_many_tokens]"
    )


def test_stats_cover_valid_examples_and_epochs_can_be_set(write_jsonl: Callable[..., Path]) -> None:
    rows: list[Any] = [_chat("Hi", "Hello")] * 60 + [{"messages": "nope"}]
    report = analyze(write_jsonl(rows), encoding="cl100k_base", epochs=2)
    assert (report.n_examples, report.n_valid) == (61, 60)
    assert report.total_tokens.n == 60 and report.total_tokens.max == 13  # 3 + 2 x 4 + 1 + 1
    assert report.default_epochs == 3 and report.epochs == 2
    assert report.billed_training_tokens == 2 * 60 * 13
    assert report.format_errors == {"missing_messages_list": 1}
    assert report.estimated_cost is None


def test_report_keeps_a_bounded_number_of_problems(write_jsonl: Callable[..., Path]) -> None:
    report = analyze(write_jsonl([{"messages": []}] * 500), max_problems=20)
    assert len(report.problems) == 20 and report.n_problems == 500
    assert report.format_errors == {"missing_messages_list": 500}


def test_examples_in_memory_are_analyzed_like_a_file(write_jsonl: Callable[..., Path]) -> None:
    rows: list[Any] = [_chat("Hi", "Hello")] * 12 + [{"messages": [{"role": "user", "content": "no answer"}]}]
    from_file = analyze(write_jsonl(rows), encoding="cl100k_base")
    in_memory = analyze(iter(rows), encoding="cl100k_base")
    assert in_memory.to_dict() | {"path": None, "problems": None} == from_file.to_dict() | {
        "path": None,
        "problems": None,
    }
    assert [str(p) for p in in_memory.problems] == [
        "<examples>:13: messages: example has no assistant message to learn from [example_missing_assistant_message]",
        "<examples>: warning: 13 examples; OpenAI recommends at least 50 [few_examples]",
    ]

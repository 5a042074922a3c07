"""A rung whose cases mostly fail with errors stops the ladder with that cause; a few errors are scored and shown."""

from __future__ import annotations

import warnings
from pathlib import Path

import ladder_world as world  # tests/ladder_world.py: tests/conftest.py puts the folder on sys.path
import pytest

from tunewise import BadRequestError, ChatRequest, ServerError
from tunewise.ladder import build_ladder_report, run_ladder


def item(request: ChatRequest) -> int:
    return int((request.messages[-1].content or "").rstrip("?").split()[-1])


@pytest.mark.anyio
async def test_a_rung_that_mostly_errors_stops_the_ladder_and_the_same_run_resumes(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    script = world.World()
    down = True

    def flaky(request: ChatRequest) -> str:
        n = item(request)
        if down and n >= 2000 and n % 4 != 0:  # 15 of the 20 test cases
            raise ServerError(f"upstream down for item {n}", status=503, request_id=f"req_{n}", provider="scripted")
        return str(script(request))

    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    provider._handler = flaky
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
        state = outcome.state
        assert state.results == {}  # never scored as 0.000
        failure = state.failure
        assert failure is not None
        assert (failure.rung, failure.errors, failure.cases, failure.split) == ("zero_shot", 15, 20, "test")
        assert failure.cause == "scripted: upstream down for item N (status 503)" and not failure.stopped_early
        assert (
            failure.summary()
            == "zero_shot failed: scripted: upstream down for item N (status 503) (15 of 20 test cases)"
        )
        assert state.stopped == f"failed: {failure.summary()}"
        assert state.skipped["few_shot"] == "the ladder stopped when zero_shot failed"
        rec = outcome.recommendation()
        assert rec.chosen is None and rec.failure == failure.summary()
        assert rec.reasons[0].startswith("The ladder stopped: zero_shot failed: ")
        assert rec.next_steps[0].startswith("Fix the cause of the errors")
        assert not any("stronger base model" in step for step in rec.next_steps)
        report = build_ladder_report(outcome.out)
        markdown = report.markdown()
        assert "**Decision:** stopped: zero_shot failed: " in markdown
        assert "- 15 x scripted: upstream down for item N (status 503) (e.g. zero_shot / test-2001: " in markdown
        assert '<p class="failed">The ladder stopped: zero_shot failed: ' in report.html()

        down = False  # the upstream is back: the same ladder goes on, sending only the failed cases again
        before = script.calls.count("base")
        again = await run_ladder(config, providers={"scripted": world.WorldProvider(script, tmp_path / "jobs.json")})
    assert again.state.failure is None and again.recommendation().chosen == "fine_tune"
    assert again.state.results["zero_shot"].errors == 0
    zero_shot_calls = script.calls[before:].count("base")
    assert zero_shot_calls >= 15 and script.calls[before : before + 15] == ["base"] * 15


@pytest.mark.anyio
async def test_a_few_failed_cases_count_as_zero_and_are_shown_by_cause(tmp_path: Path) -> None:
    config = world.write_world(tmp_path)
    config.write_text(
        config.read_text().replace(
            'rungs = ["zero_shot", "few_shot", "optimized_prompt", "fine_tune"', 'rungs = ["zero_shot", "fine_tune"'
        )
    )
    script = world.World()

    def long_prompts(request: ChatRequest) -> str:
        n = item(request)
        if n in (2003, 2007, 2011):
            raise BadRequestError(f"the prompt is {9000 + n} tokens; base takes at most 4096", provider="scripted")
        return str(script(request))

    provider = world.WorldProvider(script, tmp_path / "jobs.json")
    provider._handler = long_prompts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(config, providers={"scripted": provider})
    assert outcome.state.failure is None
    tuned = outcome.state.results["fine_tune"]
    assert tuned.errors == 3 and tuned.n == 20 and tuned.mean == pytest.approx(17 / 20)
    (cause,) = tuned.causes
    assert (cause.cause, cause.count, cause.case_id) == (
        "scripted: the prompt is N tokens; base takes at most N",
        3,
        "test-2003",
    )
    assert "3 of 20 test cases failed with errors and count as 0" in tuned.notes
    markdown = build_ladder_report(outcome.out).markdown()
    assert "fine_tune: 3 test cases failed with errors (each counts as 0). By cause:" in markdown

"""Failed cases are shown by cause; an error every case would hit stops the run, one about a case fails that case."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tunewise import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ConfigError,
    MissingAPIKeyError,
    Model,
    ModelRef,
    NotFoundError,
    RateLimitError,
    ServerError,
    StructuredOutputError,
)
from tunewise.evaluation import Case, RunStore, build_report, error_causes, evaluate, stops_run
from tunewise.evaluation._failures import describe_errors, normalize_error
from tunewise.strategies import ZeroShot
from tunewise.testing import ScriptedProvider


def cases(n: int) -> list[Case]:
    return [Case.of(f"What is {i} + {i}?", str(2 * i), id=f"c{i}") for i in range(n)]


def number(request: ChatRequest) -> int:
    return int((request.messages[-1].content or "").split()[2])


def model(provider: ScriptedProvider) -> Model:
    return Model(ModelRef(prefix="scripted", name="m"), provider)


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        (AuthenticationError("invalid api key", status=401, provider="openai"), True),
        (AuthenticationError("forbidden", status=403, provider="openai"), True),
        (NotFoundError("model directory /x does not exist", provider="local"), True),
        (MissingAPIKeyError("openai: no API key configured"), True),
        (ConfigError("no provider plugin for prefix 'nosuch'"), True),
        (BadRequestError("the prompt is 9006 tokens; m takes at most 1024", status=400, provider="local"), False),
        (StructuredOutputError("the model refused", provider="openai"), False),
        (ServerError("overloaded", status=503, provider="openai"), False),
        (RateLimitError("slow down", provider="openai"), False),
        (TimeoutError(), False),
        (ValueError("a strategy bug on one case"), False),
    ],
)
def test_which_errors_stop_a_run(error: BaseException, stops: bool) -> None:
    assert stops_run(error) is stops


@pytest.mark.parametrize(
    ("line", "case_id", "cause"),
    [
        ("openai: boom (status 503, request id req_9f2a1)", "c1", "openai: boom (status 503)"),
        ("openai: boom (request id req_9f2a1)", "c1", "openai: boom"),
        (
            "local: the prompt is 9006 tokens; m takes at most 1024",
            "c1",
            "local: the prompt is N tokens; m takes at most N",
        ),
        ("ValueError: case c12 has 3 parts", "c12", "ValueError: case <case> has N parts"),
        ("openai: model gpt-4o-mini not found (status 404)", "c1", "openai: model gpt-4o-mini not found (status 404)"),
        ("timed out after 0.5s", "c3", "timed out after 0.5s"),
    ],
)
def test_a_cause_is_the_error_without_what_differs_between_cases(line: str, case_id: str, cause: str) -> None:
    assert normalize_error(line, case_id) == cause


@pytest.mark.anyio
async def test_an_error_every_case_would_hit_stops_the_run_and_the_run_resumes(tmp_path: Path) -> None:
    key_ok = False

    async def handler(request: ChatRequest) -> str:
        await anyio.sleep(0.001)
        if not key_ok:
            raise AuthenticationError("Incorrect API key provided", status=401, request_id="req_1", provider="scripted")
        return str(2 * number(request))

    provider = ScriptedProvider(handler)
    store = tmp_path / "runs.sqlite"
    first = await evaluate([ZeroShot(model(provider), name="z")], cases(40), store=store, concurrency=4, run_id="r")
    assert first.stopped == "scripted: Incorrect API key provided (status 401, request id req_1)"
    assert len(provider.requests) <= 4  # only the cases already in flight, never all 40
    assert first.errors == first.ran == len(provider.requests)
    assert first.not_run == 40 - first.ran and first.ok == 0
    (cause,) = first.causes
    assert cause.cause == "scripted: Incorrect API key provided (status 401)"
    assert (cause.count, cause.strategy) == (first.errors, "z")

    key_ok = True  # fixed: the same run goes on where it stopped, errored cases tried again
    second = await evaluate([ZeroShot(model(provider), name="z")], cases(40), store=store, concurrency=4, run_id="r")
    assert (second.ok, second.errors, second.skipped, second.stopped, second.causes) == (40, 0, 0, None, ())
    with RunStore(store) as runs:
        assert runs.run("r").complete


@pytest.mark.anyio
async def test_a_prompt_too_long_for_the_context_fails_its_case_and_the_run_goes_on(tmp_path: Path) -> None:
    def handler(request: ChatRequest) -> str:
        n = number(request)
        if n % 4 == 0:
            raise BadRequestError(f"the prompt is {9000 + n} tokens; m takes at most 1024", status=400, provider="x")
        return str(2 * n)

    provider = ScriptedProvider(handler)
    summary = await evaluate([ZeroShot(model(provider), name="z")], cases(12), store=tmp_path / "r.sqlite")
    assert (summary.ok, summary.errors, summary.stopped, summary.not_run) == (9, 3, None, 0)
    assert len(provider.requests) == 12
    (cause,) = summary.causes
    assert cause.cause == "x: the prompt is N tokens; m takes at most N (status 400)"
    assert (cause.count, cause.case_id) == (3, "c0")
    assert cause.example == "x: the prompt is 9000 tokens; m takes at most 1024 (status 400)"


@pytest.mark.anyio
async def test_an_error_inside_a_one_member_exception_group_is_classified_by_that_error(tmp_path: Path) -> None:
    def handler(request: ChatRequest) -> str:
        raise ExceptionGroup("task group", [NotFoundError("model m does not exist", status=404, provider="x")])

    provider = ScriptedProvider(handler)
    summary = await evaluate([ZeroShot(model(provider))], cases(20), store=tmp_path / "r.sqlite", concurrency=2)
    assert summary.stopped == "x: model m does not exist (status 404)"
    assert summary.ran <= 2 and summary.not_run == 20 - summary.ran


@pytest.mark.anyio
async def test_causes_are_counted_most_frequent_first_and_shown_in_the_report(tmp_path: Path) -> None:
    def handler(request: ChatRequest) -> str:
        n = number(request)
        if n % 2 == 0:
            raise ServerError(f"upstream failed on shard {n}", status=502, request_id=f"req_{n}", provider="x")
        if n % 3 == 0:
            raise ValueError(f"cannot parse case {n}")
        return str(2 * n)

    store = tmp_path / "r.sqlite"
    summary = await evaluate([ZeroShot(model(ScriptedProvider(handler)), name="z")], cases(10), store=store)
    assert [(c.cause, c.count, c.case_id) for c in summary.causes] == [
        ("x: upstream failed on shard N (status 502)", 5, "c0"),
        ("ValueError: cannot parse case N", 2, "c3"),
    ]
    lines = describe_errors(summary.causes, summary.ran)
    assert lines == [
        "7 of 10 cases failed; by cause:",
        "  5 x x: upstream failed on shard N (status 502)",
        "      e.g. z / c0: x: upstream failed on shard 0 (status 502, request id req_0)",
        "  2 x ValueError: cannot parse case N",
        "      e.g. z / c3: ValueError: cannot parse case 3",
    ]
    with RunStore(store) as runs:
        assert error_causes(runs.results(summary.run_id)) == list(summary.causes)
        report = build_report(runs, summary.run_id)
    markdown = report.markdown()
    assert "## Errors (7)" in markdown
    assert "- 5 x x: upstream failed on shard N (status 502) (e.g. z / c0: " in markdown
    assert "<li>2 &times; ValueError: cannot parse case N" in report.html()

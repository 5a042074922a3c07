"""The runner and run store with real scripted providers: concurrency, timeouts, errors, resume, cost, cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from tunewise import Answer, ChatRequest, Message, Model, ModelCall, ModelRef, ServerError, Usage
from tunewise.evaluation import Case, ResponseCache, RunStore, evaluate
from tunewise.strategies import ChainOfThought, ZeroShot
from tunewise.testing import ScriptedProvider


def cases(n: int) -> list[Case]:
    return [Case.of(f"What is {i} + {i}?", str(2 * i), id=f"c{i}") for i in range(n)]


def adder(request: ChatRequest) -> str:
    words = (request.messages[-1].content or "").split()
    return str(int(words[2]) * 2)


def model(provider: ScriptedProvider, name: str = "m") -> Model:
    return Model(ModelRef(prefix="scripted", name=name), provider)


def per_million(model_ref: str, usage: Usage) -> float | None:
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return (usage.prompt_tokens * 1.0 + usage.completion_tokens * 2.0) / 1e6


@pytest.mark.anyio
async def test_every_case_scored_once_with_bounded_concurrency(tmp_path: Path) -> None:
    in_flight = peak = 0

    async def handler(request: ChatRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        return adder(request)

    provider = ScriptedProvider(handler)
    strategies = [ZeroShot(model(provider), name="a"), ZeroShot(model(provider, "other"), name="b")]
    summary = await evaluate(
        strategies,
        cases(30),
        ["exact_match", "token_f1"],
        store=tmp_path / "runs.sqlite",
        concurrency=5,
        cost=per_million,
    )
    assert (summary.ok, summary.errors, summary.skipped) == (60, 0, 0)
    assert peak == 5
    assert len(provider.requests) == 60
    with RunStore(tmp_path / "runs.sqlite") as store:
        results = store.results(summary.run_id)
        info = store.run(summary.run_id)
    assert info.complete and info.finished_at is not None
    assert len(results) == 60 and {r.scores["exact_match"] for r in results} == {1.0}
    first = store_row = results[0]
    assert store_row.requests[0]["messages"] == [{"role": "user", "content": "What is 0 + 0?"}]
    assert first.usage.prompt_tokens and first.latency_s is not None and first.latency_s > 0
    assert first.cost == pytest.approx(per_million("scripted:m", first.usage))
    assert summary.cost == pytest.approx(sum(r.cost or 0 for r in results))


@pytest.mark.anyio
async def test_unknown_prices_give_unknown_cost_never_zero(tmp_path: Path) -> None:
    provider = ScriptedProvider(adder)
    summary = await evaluate([ZeroShot(model(provider))], cases(3), store=tmp_path / "r.sqlite")
    assert summary.cost is None
    with RunStore(tmp_path / "r.sqlite") as store:
        assert all(r.cost is None for r in store.results(summary.run_id))


@pytest.mark.anyio
async def test_timeouts_and_provider_errors_are_recorded_and_retried_on_resume(tmp_path: Path) -> None:
    failing = {"c1", "c2"}
    slow = {"c3"}

    async def handler(request: ChatRequest) -> str:
        text = request.messages[-1].content or ""
        case_id = f"c{text.split()[2]}"
        if case_id in failing:
            raise ServerError("upstream exploded", status=503, provider="scripted")
        if case_id in slow:
            await anyio.sleep(5)
        return adder(request)

    provider = ScriptedProvider(handler)
    store = tmp_path / "runs.sqlite"
    first = await evaluate([ZeroShot(model(provider))], cases(6), store=store, timeout=0.2, run_id="r1")
    assert (first.ok, first.errors) == (3, 3)
    with RunStore(store) as runs:
        errors = {r.case_id: r.error for r in runs.results("r1", status="error")}
        assert not runs.run("r1").complete
    assert errors["c1"] == "scripted: upstream exploded (status 503)"
    assert errors["c3"] == "timed out after 0.2s"

    failing.clear()
    slow.clear()
    sent_before = len(provider.requests)
    second = await evaluate([ZeroShot(model(provider))], cases(6), store=store, timeout=0.2, run_id="r1")
    assert (second.ok, second.errors, second.skipped) == (3, 0, 3)
    assert len(provider.requests) - sent_before == 3  # only the failed cases were sent again
    with RunStore(store) as runs:
        assert runs.run("r1").complete
        attempts = {r.case_id: r.attempts for r in runs.results("r1")}
    assert attempts == {"c0": 1, "c1": 2, "c2": 2, "c3": 2, "c4": 1, "c5": 1}


@pytest.mark.anyio
async def test_same_evaluation_resumes_by_default_and_rejects_a_changed_config(tmp_path: Path) -> None:
    provider = ScriptedProvider(adder)
    store = tmp_path / "runs.sqlite"
    first = await evaluate([ZeroShot(model(provider))], cases(4), store=store)
    again = await evaluate([ZeroShot(model(provider))], cases(4), store=store)
    assert again.run_id == first.run_id and again.ran == 0 and again.skipped == 4
    assert len(provider.requests) == 4
    from tunewise import ConfigError

    with pytest.raises(ConfigError, match=r"already exists .* different configuration"):
        await evaluate([ZeroShot(model(provider))], cases(5), store=store, run_id=first.run_id)


@pytest.mark.anyio
async def test_cancellation_keeps_finished_cases(tmp_path: Path) -> None:
    provider = ScriptedProvider(adder, latency=0.02)
    store = tmp_path / "runs.sqlite"
    with anyio.move_on_after(0.15):
        await evaluate([ZeroShot(model(provider))], cases(100), store=store, concurrency=2, run_id="cut")
    with RunStore(store) as runs:
        done = runs.completed("cut")
    assert 0 < len(done) < 100
    summary = await evaluate([ZeroShot(model(provider))], cases(100), store=store, concurrency=8, run_id="cut")
    assert summary.skipped == len(done) and summary.ok == 100 - len(done)


@pytest.mark.anyio
async def test_cache_replays_with_original_usage_and_cost(tmp_path: Path) -> None:
    provider = ScriptedProvider(lambda r: f"Thinking.\nAnswer: {adder(r)}")
    cache = ResponseCache(tmp_path / "cache.sqlite")
    strategy = ChainOfThought(model(provider))
    first = await evaluate(
        [strategy], cases(5), store=tmp_path / "a.sqlite", cache=cache, cost=per_million, run_id="one"
    )
    assert first.cache_hits == 0 and len(provider.requests) == 5 and len(cache) == 5
    second = await evaluate(
        [strategy], cases(5), store=tmp_path / "b.sqlite", cache=cache, cost=lambda m, u: 999.0, run_id="two"
    )
    assert second.cache_hits == 5 and len(provider.requests) == 5  # nothing sent
    assert second.cost == pytest.approx(first.cost)  # original cost, not the new price, never 0
    with RunStore(tmp_path / "a.sqlite") as a, RunStore(tmp_path / "b.sqlite") as b:
        ra, rb = a.results("one"), b.results("two")
    assert [r.usage for r in ra] == [r.usage for r in rb]
    assert all(r.cached for r in rb) and not any(r.cached for r in ra)
    assert [r.scores for r in ra] == [r.scores for r in rb]
    # off unless asked: without cache= every request is sent
    await evaluate([strategy], cases(5), store=tmp_path / "c.sqlite", run_id="three")
    assert len(provider.requests) == 10


@pytest.mark.anyio
async def test_store_is_wal_and_rows_are_visible_to_other_connections(tmp_path: Path) -> None:
    provider = ScriptedProvider(adder)
    path = tmp_path / "runs.sqlite"
    summary = await evaluate([ZeroShot(model(provider))], cases(3), store=path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT case_id, status FROM results WHERE run_id = ?", (summary.run_id,)).fetchall()
    assert sorted(rows) == [("c0", "ok"), ("c1", "ok"), ("c2", "ok")]


@pytest.mark.anyio
async def test_a_failing_metric_keeps_the_answer_and_other_scores(tmp_path: Path) -> None:
    def picky(answer: str, case: Case) -> bool:
        if case.id == "c1":
            raise RuntimeError("cannot judge this one")
        return True

    provider = ScriptedProvider(adder)
    summary = await evaluate([ZeroShot(model(provider))], cases(2), ["exact_match", picky], store=tmp_path / "r.sqlite")
    assert summary.ok == 2
    with RunStore(tmp_path / "r.sqlite") as store:
        row = next(r for r in store.results(summary.run_id) if r.case_id == "c1")
    assert row.scores == {"exact_match": 1.0}
    assert row.details["picky"] == "error: RuntimeError: cannot judge this one"


@pytest.mark.anyio
async def test_the_runner_adds_no_retries_of_its_own_and_resume_scores_every_case_once(tmp_path: Path) -> None:
    """Retries live in the provider: a retryable error that reaches the runner is recorded, not retried."""
    from tunewise import RateLimitError

    attempts: dict[str, int] = {}

    def flaky(request: ChatRequest) -> str:
        """Fails 20% of first attempts (a 503) and some more (a 429 with retry_after)."""
        question = request.messages[-1].content or ""
        n = attempts[question] = attempts.get(question, 0) + 1
        number = int(question.split()[2])
        if n == 1 and number % 5 == 0:
            raise ServerError("overloaded", status=503, provider="scripted")
        if n == 1 and number % 7 == 0:
            raise RateLimitError("slow down", retry_after=0.001, provider="scripted")
        return adder(request)

    failing = sum(1 for n in range(1000) if n % 5 == 0 or n % 7 == 0)
    provider = ScriptedProvider(flaky)
    store = tmp_path / "r.sqlite"
    first = await evaluate([ZeroShot(model(provider))], cases(1000), store=store, concurrency=32, run_id="r")
    assert (first.ok, first.errors) == (1000 - failing, failing)
    assert sum(attempts.values()) == 1000  # one call per case: no runner retry on top of the provider's
    second = await evaluate([ZeroShot(model(provider))], cases(1000), store=store, concurrency=32, run_id="r")
    assert (second.ok, second.errors, second.skipped) == (failing, 0, 1000 - failing)
    assert sum(attempts.values()) == 1000 + failing
    with RunStore(store) as runs:
        results = runs.results("r")
    assert len(results) == 1000 and len({r.case_id for r in results}) == 1000
    assert all(r.scores["exact_match"] == 1.0 for r in results)


@pytest.mark.anyio
async def test_retries_and_retry_delay_are_deprecated_and_change_nothing(tmp_path: Path) -> None:
    def unavailable(request: ChatRequest) -> str:
        raise ServerError("overloaded", status=503, provider="scripted")

    provider = ScriptedProvider(unavailable)
    with pytest.warns(DeprecationWarning, match="retries live in the provider"):
        summary = await evaluate([ZeroShot(model(provider))], cases(2), store=tmp_path / "r.sqlite", retries=3)
    assert summary.errors == 2 and len(provider.requests) == 2


@pytest.mark.anyio
async def test_non_retryable_errors_are_not_retried(tmp_path: Path) -> None:
    from tunewise import BadRequestError

    def reject(request: ChatRequest) -> str:
        raise BadRequestError("context too long", status=400, provider="scripted")

    provider = ScriptedProvider(reject)
    summary = await evaluate([ZeroShot(model(provider))], cases(3), store=tmp_path / "r.sqlite")
    assert summary.errors == 3 and len(provider.requests) == 3


@pytest.mark.anyio
async def test_errors_are_one_line_and_never_hold_an_api_key(tmp_path: Path) -> None:
    key = "sk-test-abcdefghijklmnop1234"

    def leaky(request: ChatRequest) -> str:
        raise RuntimeError(f"request failed\nwith header Authorization: Bearer {key}")

    provider = ScriptedProvider(leaky)
    summary = await evaluate([ZeroShot(model(provider))], cases(1), store=tmp_path / "r.sqlite")
    with RunStore(tmp_path / "r.sqlite") as store:
        (row,) = store.results(summary.run_id)
    assert row.error is not None and "\n" not in row.error
    assert key not in row.error and row.error.startswith("RuntimeError: request failed")
    assert key not in (tmp_path / "r.sqlite").read_bytes().decode("latin-1")


@pytest.mark.anyio
async def test_edited_cases_do_not_pair_across_runs(tmp_path: Path) -> None:
    from tunewise.evaluation import compare_runs

    provider = ScriptedProvider(adder)
    store = tmp_path / "r.sqlite"
    await evaluate([ZeroShot(model(provider), name="s")], cases(6), store=store, run_id="old")
    edited = cases(6)
    edited[0] = Case.of("What is 9 + 9?", "18", id="c0")
    await evaluate([ZeroShot(model(provider), name="s")], edited, store=store, run_id="new")
    with RunStore(store) as runs:
        (comparison,) = compare_runs(runs, "old", "new")
    assert comparison.n == 5 and comparison.unpaired_a == 1 and comparison.unpaired_b == 1


@pytest.mark.anyio
async def test_progress_bar_and_result_callback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[str] = []
    provider = ScriptedProvider(adder)
    await evaluate(
        [ZeroShot(model(provider))],
        cases(7),
        store=tmp_path / "r.sqlite",
        run_id="shown",
        progress=True,
        on_result=lambda r: seen.append(r.case_id),
    )
    assert sorted(seen) == [f"c{i}" for i in range(7)]
    err = capsys.readouterr().err
    assert "shown" in err and "7/7" in err and "7 ok, 0 errors" in err


@pytest.mark.anyio
async def test_a_broken_price_function_keeps_the_answer(tmp_path: Path) -> None:
    def broken(model_ref: str, usage: Usage) -> float | None:
        raise KeyError(model_ref)

    provider = ScriptedProvider(adder)
    summary = await evaluate([ZeroShot(model(provider))], cases(2), store=tmp_path / "r.sqlite", cost=broken)
    assert summary.ok == 2 and summary.cost is None
    with RunStore(tmp_path / "r.sqlite") as store:
        rows = store.results(summary.run_id)
    assert all(r.cost is None and r.details["cost"] == "error: KeyError: 'scripted:m'" for r in rows)


@pytest.mark.anyio
async def test_changing_a_prompt_makes_a_new_run_not_a_resume(tmp_path: Path) -> None:
    from tunewise.strategies import SystemPrompt

    provider = ScriptedProvider(adder)
    store = tmp_path / "r.sqlite"
    first = await evaluate([SystemPrompt(model(provider), "Be exact.", name="p")], cases(3), store=store)
    same = await evaluate([SystemPrompt(model(provider), "Be exact.", name="p")], cases(3), store=store)
    edited = await evaluate([SystemPrompt(model(provider), "Be very exact.", name="p")], cases(3), store=store)
    assert same.run_id == first.run_id and same.skipped == 3
    assert edited.run_id != first.run_id and edited.ran == 3
    with RunStore(store) as runs:
        (recorded,) = runs.run(edited.run_id).config["strategies"]
    assert recorded["system"] == "Be very exact." and recorded["caller"]["model"] == "scripted:m"


@pytest.mark.anyio
async def test_budget_stops_new_cases_and_the_run_resumes_later(tmp_path: Path) -> None:
    from tunewise import BudgetExceededError, ConfigError

    provider = ScriptedProvider(adder)
    store = tmp_path / "r.sqlite"
    per_case = per_million("", Usage(prompt_tokens=11, completion_tokens=1))  # "What is 3 + 3?"
    assert per_case is not None
    with pytest.raises(BudgetExceededError, match=r"run b: stopped, spent \$.* of the \$.* budget; 10 results stored"):
        await evaluate(
            [ZeroShot(model(provider))],
            cases(40),
            store=store,
            run_id="b",
            concurrency=1,
            cost=per_million,
            budget=per_case * 9.5,
        )
    assert len(provider.requests) == 10
    summary = await evaluate([ZeroShot(model(provider))], cases(40), store=store, run_id="b", cost=per_million)
    assert summary.skipped == 10 and summary.ok == 30

    with pytest.raises(ConfigError, match="budget needs"):
        await evaluate([ZeroShot(model(provider))], cases(1), store=store, budget=1.0)
    with pytest.raises(BudgetExceededError, match="is unknown, so the budget cannot be kept"):
        await evaluate(
            [ZeroShot(model(provider))],
            cases(3),
            store=store,
            run_id="u",
            concurrency=1,
            cost=lambda m, u: None,
            budget=1.0,
        )


class DraftThenReview:
    """A third-party strategy calling two models, reporting each call as a ModelCall (no private API)."""

    name = "draft_review"

    def __init__(self, draft: Model, review: Model) -> None:
        self.draft, self.review = draft, review

    async def respond(self, conversation: object) -> Answer:
        calls = []
        for step in (self.draft, self.review):
            request = step.request([Message.user("What is 2 + 2?")])
            calls.append(
                ModelCall(model_ref=str(step.ref), request=request, response=await step.provider.chat(request))
            )
        return Answer(
            strategy=self.name,
            response=calls[-1].response,
            requests=tuple(c.request for c in calls),
            responses=tuple(c.response for c in calls),
            calls=tuple(calls),
        )


@pytest.mark.anyio
async def test_each_call_is_priced_by_the_model_it_called(tmp_path: Path) -> None:
    provider = ScriptedProvider(adder)
    priced: list[str] = []

    def price(model_ref: str, usage: Usage) -> float | None:
        priced.append(model_ref)
        return {"scripted:cheap": 0.001, "scripted:dear": 0.1}.get(model_ref)

    strategy = DraftThenReview(model(provider, "cheap"), model(provider, "dear"))
    summary = await evaluate([strategy], cases(1), store=tmp_path / "r.sqlite", cost=price)
    assert priced == ["scripted:cheap", "scripted:dear"] and summary.cost == pytest.approx(0.101)
    unknown = DraftThenReview(model(provider, "cheap"), model(provider, "free-lunch"))
    again = await evaluate([unknown], cases(1), store=tmp_path / "r2.sqlite", cost=price)
    assert again.ok == 1 and again.cost is None  # one unknown price makes the answer's cost unknown, never 0

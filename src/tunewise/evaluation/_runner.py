"""The runner: every strategy on every case, concurrently, each result stored as it arrives.

Bounded concurrency (one pool of workers shared by all strategies), a per-case timeout,
clean cancellation (finished cases stay stored), an optional rich progress bar, and the
cost of every call from its measured usage through a pluggable cost function.
Running the same run id again resumes: cases already scored are skipped, failed ones
are tried again.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tunewise._errors import BudgetExceededError, ConfigError, ProviderError
from tunewise._types import Usage
from tunewise.evaluation._cache import ResponseCache, use_cache
from tunewise.evaluation._cases import Case, load_cases
from tunewise.evaluation._failures import ErrorCause, error_causes, sole_error, stops_run
from tunewise.evaluation._metrics import Metric, MetricLike, Score, as_metric
from tunewise.evaluation._runstore import NOT_APPLICABLE, CaseResult, RunStore
from tunewise.interfaces.strategy import Answer, Strategy

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

CostFunction = Callable[[str, Usage], float | None]
"""``cost(model_ref, usage) -> dollars``, or ``None`` when the price is unknown (never a made-up 0)."""


@dataclass(frozen=True)
class RunSummary:
    """What one ``evaluate`` call did."""

    run_id: str
    store: Path
    ran: int
    """(strategy, case) pairs run in this call (fewer than were due when the run ``stopped``)."""
    ok: int
    errors: int
    skipped: int
    """Pairs already scored by an earlier call (resume), not sent again."""
    cost: float | None
    """Cost of this call's fresh and replayed answers; ``None`` if any price was unknown."""
    wall_s: float
    cache_hits: int = 0
    causes: tuple[ErrorCause, ...] = ()
    """This call's errors grouped by cause, most frequent first, each with an example case."""
    stopped: str | None = None
    """Why the run stopped before its last case: an error every case would hit (bad key, missing model)."""
    not_run: int = 0
    """Pairs left unrun because the run ``stopped``; running the same run again tries them."""

    @property
    def resumed(self) -> bool:
        return self.skipped > 0


def error_line(exc: BaseException, *, with_type: bool = True) -> str:
    """An exception as one line with any API key removed: what the run store keeps."""
    from tunewise._secrets import redact

    text = " ".join(str(exc).split())
    return redact(f"{type(exc).__name__}: {text}" if with_type else text)


def _plain(value: Any) -> Any:
    """JSON for settings: models as dumps, patterns as text, components by type and name."""
    import dataclasses
    import re

    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, re.Pattern):
        return value.pattern
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    ref = getattr(value, "ref", None)
    if ref is not None and hasattr(value, "options"):  # a strategy's model caller
        return {"model": str(ref), "options": value.options}
    name = getattr(value, "name", None)
    return f"{type(value).__qualname__}:{name}" if name is not None else type(value).__qualname__


def settings_of(component: Any) -> dict[str, Any]:
    """A strategy's or metric's settings as JSON-able data (public attributes), for the run's config and id."""
    settings: dict[str, Any] = {"class": f"{type(component).__module__}.{type(component).__qualname__}"}
    for key, value in sorted(getattr(component, "__dict__", {}).items()):
        if not key.startswith("_"):
            settings[key] = json.loads(json.dumps(value, default=_plain))
    return settings


def config_hash(
    strategies: Sequence[Mapping[str, Any]], metrics: Sequence[Mapping[str, Any]], cases: Sequence[Case], extra: Any
) -> str:
    """A fingerprint of what defines a run: strategy and metric settings, the cases and any user config.

    Changing a system prompt, an example or a metric's pattern makes a new run, never a
    resume that mixes old and new answers.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"strategies": strategies, "metrics": metrics}, sort_keys=True).encode())
    for case in cases:
        digest.update(case.model_dump_json().encode())
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def check_group_by(cases: Sequence[Case], key: str) -> None:
    """A ConfigError unless some case has ``metadata[key]`` (a misspelt key would make one group of everything)."""
    if not isinstance(key, str) or not key:
        raise ConfigError("group_by must be a case metadata key, such as 'kind'")
    if not any(case.metadata.get(key) not in (None, "") for case in cases):
        found = sorted({k for case in cases for k in case.metadata})
        raise ConfigError(f"group_by {key!r}: no case has metadata.{key} (keys found: {', '.join(found) or 'none'})")


def answer_cost(answer: Answer, cost: CostFunction | None, cache: ResponseCache | None) -> float | None:
    """Cost of every call in ``answer``: replayed calls keep their recorded cost, fresh ones are priced now."""
    calls = answer.responses
    if not calls:
        return 0.0  # the strategy made no call (a hand-off): truly free
    refs: list[str] = answer.metadata.get("model_refs", [])
    entries: list[dict[str, Any] | None] = answer.metadata.get("cache", [None] * len(calls))
    total: float | None = 0.0
    for i, response in enumerate(calls):
        entry = entries[i] if i < len(entries) else None
        if entry is not None and entry["hit"]:
            price = entry["cost"]
        else:
            ref = refs[i] if i < len(refs) else response.model
            price = cost(ref, response.usage) if cost is not None else None
            if entry is not None and cache is not None:
                cache.set_cost(entry["key"], price)
        total = None if total is None or price is None else total + price
    return total


def _not_applicable(detail: str | None) -> str:
    """The ``details`` entry of a metric that does not apply: always starts with :data:`NOT_APPLICABLE`."""
    if not detail:
        return NOT_APPLICABLE
    return detail if detail.startswith(NOT_APPLICABLE) else f"{NOT_APPLICABLE}: {detail}"


def _scoring_cost(scores: Sequence[Score], cost: CostFunction | None) -> float | None:
    priced = [s for s in scores if s.usage is not None]
    if not priced:
        return 0.0
    if cost is None:
        return None
    total: float | None = 0.0
    for score in priced:
        assert score.usage is not None
        price = cost(score.model_ref or "", score.usage)
        total = None if total is None or price is None else total + price
    return total


async def evaluate(
    strategies: Sequence[Strategy],
    cases: Sequence[Case] | str | Path,
    metrics: Sequence[MetricLike] = ("exact_match",),
    *,
    store: RunStore | str | Path,
    run_id: str | None = None,
    concurrency: int = 8,
    timeout: float | None = None,
    cost: CostFunction | None = None,
    cache: ResponseCache | None = None,
    retries: int | None = None,
    retry_delay: float | None = None,
    budget: float | None = None,
    progress: bool = False,
    on_result: Callable[[CaseResult], None] | None = None,
    config: Mapping[str, Any] | None = None,
    group_by: str | None = None,
) -> RunSummary:
    """Run every strategy on every case, score each answer, store each result as it arrives.

    ``run_id`` defaults to a fingerprint of strategies, metrics, cases and ``config``, so
    running the same evaluation again resumes it; pass a new id for a fresh run. ``timeout``
    bounds each strategy call (seconds). The runner does not retry: retries live in the
    provider (the OpenAI plugin's ``max_retries``: one budget of HTTP attempts per call), so an
    error that reaches the runner has used up its retries and is recorded for that case
    (running the same run id again tries the errored cases once more). ``retries`` and
    ``retry_delay`` are deprecated and ignored. ``cache`` replays
    identical requests with their original usage and cost. With ``budget`` (dollars, needs
    ``cost``), no new case starts once this call has spent it (answers and judging; replays
    from the cache are free), and :class:`~tunewise.BudgetExceededError` says how far it got;
    an unknown price stops the run the same way, since the budget could not be kept.
    An error that every case would hit alike (bad credentials, a model, plugin or key that does not
    exist: see :func:`~tunewise.evaluation.stops_run`) stops the run after the cases in flight;
    the summary's ``stopped`` says why and ``causes`` groups the errors. Errors about one case
    (a prompt too long for the model's context, a refusal, a timeout) fail that case only.
    Cancelling the calling scope stops the run; finished cases stay. ``group_by`` (a case
    metadata key such as ``"kind"``) is recorded with the run, and its reports show every
    figure per group too; it changes no answer, so it is not part of the run id.
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
    if retries is not None or retry_delay is not None:
        warnings.warn(
            "evaluate(retries=, retry_delay=) are ignored: retries live in the provider (e.g. options.max_retries)",
            DeprecationWarning,
            stacklevel=2,
        )
    if budget is not None and (cost is None or budget <= 0):
        raise ConfigError("a budget needs a positive amount and a cost function to measure spending")
    case_list = load_cases(cases) if isinstance(cases, str | Path) else list(cases)
    if not case_list:
        raise ConfigError("no cases to evaluate")
    ids = [c.id for c in case_list]
    if len(set(ids)) != len(ids):
        raise ConfigError("case ids must be unique")
    metric_list: list[Metric] = [as_metric(m) for m in metrics]
    names = [s.name for s in strategies]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"need at least one strategy, with unique names; got {names}")
    metric_names = [m.name for m in metric_list]
    if len(set(metric_names)) != len(metric_names):
        raise ConfigError(f"metric names must be unique; got {metric_names}")
    if group_by is not None:
        check_group_by(case_list, group_by)

    strategy_settings = [{"name": s.name, **settings_of(s)} for s in strategies]
    metric_settings = [{"name": m.name, "binary": m.binary, **settings_of(m)} for m in metric_list]
    fingerprint = config_hash(strategy_settings, metric_settings, case_list, dict(config or {}))
    run_id = run_id or f"run-{fingerprint[:12]}"
    owned = not isinstance(store, RunStore)
    run_store = RunStore(store) if not isinstance(store, RunStore) else store
    try:
        return await _run(
            strategies,
            case_list,
            metric_list,
            run_store,
            run_id,
            fingerprint,
            {
                **dict(config or {}),
                "strategies": strategy_settings,
                "metrics": metric_settings,
                "concurrency": concurrency,
                "timeout": timeout,
                **({"group_by": group_by} if group_by is not None else {}),
            },
            concurrency=concurrency,
            timeout=timeout,
            cost=cost,
            cache=cache,
            budget=budget,
            progress=progress,
            on_result=on_result,
        )
    finally:
        if owned:
            run_store.close()


async def _run(
    strategies: Sequence[Strategy],
    case_list: list[Case],
    metric_list: list[Metric],
    run_store: RunStore,
    run_id: str,
    fingerprint: str,
    run_config: dict[str, Any],
    *,
    concurrency: int,
    timeout: float | None,
    cost: CostFunction | None,
    cache: ResponseCache | None,
    budget: float | None,
    progress: bool,
    on_result: Callable[[CaseResult], None] | None,
) -> RunSummary:
    """The body of :func:`evaluate`, once inputs are checked and the store is open."""
    names = [s.name for s in strategies]
    run_store.begin_run(run_id, config=run_config, config_hash=fingerprint, strategies=names, n_cases=len(case_list))
    done = run_store.completed(run_id)
    previous_attempts = run_store.attempts(run_id)
    jobs = [
        (index, case, strategy)
        for index, case in enumerate(case_list)
        for strategy in strategies
        if (strategy.name, case.id) not in done
    ]
    skipped = len(case_list) * len(strategies) - len(jobs)
    counts = {"ok": 0, "error": 0}
    costs: list[float | None] = []
    hits_before = cache.hits if cache is not None else 0
    started = time.perf_counter()

    async def respond(strategy: Strategy, case: Case) -> Answer:
        # No retry here: the provider already spent its retry budget on this call.
        if timeout is None:
            return await strategy.respond(case.input)
        with anyio.fail_after(timeout):
            return await strategy.respond(case.input)

    stopped: str | None = None

    async def run_one(index: int, case: Case, strategy: Strategy) -> CaseResult:
        nonlocal stopped
        begun = time.perf_counter()
        base: dict[str, Any] = {
            "run_id": run_id,
            "strategy": strategy.name,
            "case_id": case.id,
            "case_index": index,
            "case": case.model_dump(mode="json"),
            "attempts": previous_attempts.get((strategy.name, case.id), 0) + 1,
        }
        try:
            answer = await respond(strategy, case)
        except TimeoutError:
            return CaseResult(
                **base, status="error", error=f"timed out after {timeout:g}s", latency_s=time.perf_counter() - begun
            )
        except Exception as exc:  # a strategy bug or bad case must not stop the other cases
            error = sole_error(exc)
            line = error_line(error, with_type=not isinstance(error, ProviderError))
            if stops_run(error) and stopped is None:  # every other case would fail alike: run no more
                stopped = line
            return CaseResult(**base, status="error", error=line, latency_s=time.perf_counter() - begun)
        latency = time.perf_counter() - begun
        scores: dict[str, float] = {}
        details: dict[str, str] = {}
        judged: list[Score] = []
        for metric in metric_list:
            try:
                score = await metric.score(case, answer)
            except Exception as exc:  # one failing metric leaves the answer and the other scores intact
                details[metric.name] = f"error: {error_line(exc)}"
                continue
            judged.append(score)
            if score.value is None:  # the metric does not apply to this case: no score, never a free 0 or 1
                details[metric.name] = _not_applicable(score.detail)
                continue
            scores[metric.name] = score.value
            if score.detail:
                details[metric.name] = score.detail
        entries = answer.metadata.get("cache") or []
        try:
            paid: float | None = answer_cost(answer, cost, cache)
            scoring: float | None = _scoring_cost(judged, cost)
        except Exception as exc:  # a broken price function must not lose an answer already paid for
            paid = scoring = None
            details["cost"] = f"error: {error_line(exc)}"
        return CaseResult(
            **base,
            status="ok",
            requests=[r.model_dump(mode="json", exclude_defaults=True) for r in answer.requests],
            response=answer.text,
            answer=answer.model_dump(mode="json", exclude={"requests"}),
            usage=answer.usage,
            latency_s=latency,
            cost=paid,
            scoring_cost=scoring,
            scores=scores,
            details=details,
            cached=bool(entries) and all(e is not None and e["hit"] for e in entries),
            handoff=answer.handoff,
        )

    bar: Progress | None = None
    task: TaskID | None = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        task = bar.add_task(run_id, total=len(jobs), status="")
        bar.start()

    queue: Iterator[tuple[int, Case, Strategy]] = iter(jobs)

    spent = 0.0
    halt: str | None = None
    """Why the budget lets no new case start: spent, or a price unknown (``price_unknown``)."""
    price_unknown = False
    failed: list[CaseResult] = []

    async def worker() -> None:
        nonlocal spent, halt, price_unknown
        for index, case, strategy in queue:
            if halt is not None or stopped is not None:
                return
            result = await run_one(index, case, strategy)
            run_store.write(result)
            counts[result.status] += 1
            if result.status == "ok":
                costs.append(result.cost)
            else:
                failed.append(result)
            if budget is not None and result.status == "ok":
                fresh = 0.0 if result.cached else result.cost
                if fresh is None or result.scoring_cost is None:
                    price_unknown = True
                    halt = (
                        halt
                        or f"the cost of {strategy.name!r} on case {case.id!r} is unknown, so the budget cannot be kept"
                    )
                else:
                    spent += fresh + result.scoring_cost
                    if spent >= budget:
                        halt = halt or f"spent ${spent:.4g} of the ${budget:.4g} budget"
            if on_result is not None:
                on_result(result)
            if bar is not None and task is not None:
                bar.update(task, advance=1, status=f"{counts['ok']} ok, {counts['error']} errors")

    try:
        with use_cache(cache):
            async with anyio.create_task_group() as group:
                for _ in range(min(concurrency, len(jobs))):
                    group.start_soon(worker)
    finally:
        if bar is not None:
            bar.stop()
    if counts["error"] == 0 and skipped + counts["ok"] == len(case_list) * len(strategies):
        run_store.finish_run(run_id)
    ran = counts["ok"] + counts["error"]
    left = len(jobs) - ran
    if halt is not None and stopped is None and (left > 0 or price_unknown):
        raise BudgetExceededError(
            f"run {run_id}: stopped, {halt}; {counts['ok'] + skipped} results stored, {left} not run; "
            "run again with a larger budget to resume"
        )
    total_cost: float | None = 0.0
    for c in costs:
        total_cost = None if total_cost is None or c is None else total_cost + c
    return RunSummary(
        run_id=run_id,
        store=run_store.path,
        ran=ran,
        ok=counts["ok"],
        errors=counts["error"],
        skipped=skipped,
        cost=total_cost,
        wall_s=time.perf_counter() - started,
        cache_hits=(cache.hits - hits_before) if cache is not None else 0,
        causes=tuple(error_causes(sorted(failed, key=lambda r: (r.case_index, r.strategy)))),
        stopped=stopped,
        not_run=left if stopped is not None else 0,
    )

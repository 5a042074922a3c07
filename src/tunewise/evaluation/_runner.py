"""The runner: every strategy on every case, concurrently, each result stored as it arrives.

Bounded concurrency (one pool of workers shared by all strategies), a per-case timeout,
clean cancellation (finished cases stay stored), an optional rich progress bar, and the
cost of every call from its measured usage through a pluggable cost function.
Running the same run id again resumes: cases already scored are skipped, failed ones
are tried again. With ``batch``, the model calls go to the provider's batch API instead
(``tunewise.evaluation._batch``), and the results are stored exactly as a live run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tunewise._errors import BudgetExceededError, ConfigError, ProviderError
from tunewise._types import Usage
from tunewise.costs import sum_known
from tunewise.evaluation._batch import BatchOptions, BatchRun
from tunewise.evaluation._cache import ResponseCache, use_cache
from tunewise.evaluation._cases import Case, load_cases
from tunewise.evaluation._failures import ErrorCause, error_causes, sole_error, stops_run
from tunewise.evaluation._metrics import Metric, MetricLike, Score, as_metric
from tunewise.evaluation._runstore import NOT_APPLICABLE, CaseResult, RunStore
from tunewise.interfaces.strategy import Answer, Strategy
from tunewise.strategies._fingerprint import settings_of

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
    batches: tuple[str, ...] = ()
    """The ids of the provider batches this call submitted or re-attached to (``batch=``)."""
    notes: tuple[str, ...] = ()
    """What a user should know about how the run went: strategies that ran live in a batch run, retries."""

    @property
    def resumed(self) -> bool:
        return self.skipped > 0


def error_line(exc: BaseException, *, with_type: bool = True) -> str:
    """An exception as one line with any API key removed: what the run store keeps."""
    from tunewise._secrets import redact

    text = " ".join(str(exc).split())
    return redact(f"{type(exc).__name__}: {text}" if with_type else text)


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
    """Cost of every call in ``answer``: replayed calls keep their recorded cost, fresh ones are priced now.

    A fresh call's price is also written to ``cache``, so a later replay of it costs the same. An
    answer without call records (a strategy that does not keep them) is priced by each response's model.
    """
    if not answer.responses:
        return 0.0  # the strategy made no call (a hand-off): truly free
    prices: list[float | None] = []
    for call in answer.calls:
        if call.cached:
            prices.append(call.cost)
            continue
        price = cost(call.model_ref, call.response.usage) if cost is not None else None
        if call.cache_key is not None and cache is not None:
            cache.set_cost(call.cache_key, price)
        prices.append(price)
    if not answer.calls:
        prices = [cost(r.model, r.usage) if cost is not None else None for r in answer.responses]
    return sum_known(*prices)


def _not_applicable(detail: str | None) -> str:
    """The ``details`` entry of a metric that does not apply: always starts with `NOT_APPLICABLE`."""
    if not detail:
        return NOT_APPLICABLE
    return detail if detail.startswith(NOT_APPLICABLE) else f"{NOT_APPLICABLE}: {detail}"


def _scoring_cost(scores: Sequence[Score], cost: CostFunction | None) -> float | None:
    priced = [s for s in scores if s.usage is not None]
    if not priced:
        return 0.0
    if cost is None:
        return None
    return sum_known(*(cost(score.model_ref or "", score.usage) for score in priced if score.usage is not None))


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
    batch: bool | BatchOptions = False,
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
    from the cache are free), and [`BudgetExceededError`][tunewise.BudgetExceededError] says how far it got;
    an unknown price stops the run the same way, since the budget could not be kept.
    An error that every case would hit alike (bad credentials, a model, plugin or key that does not
    exist: see `stops_run()`) stops the run after the cases in flight;
    the summary's ``stopped`` says why and ``causes`` groups the errors. Errors about one case
    (a prompt too long for the model's context, a refusal, a timeout) fail that case only.
    Cancelling the calling scope stops the run; finished cases stay. ``group_by`` (a case
    metadata key such as ``"kind"``) is recorded with the run, and its reports show every
    figure per group too; it changes no answer, so it is not part of the run id.

    With ``batch`` (``True`` or [`BatchOptions`][tunewise.evaluation.BatchOptions]), each case's model call
    goes into one batch per provider (OpenAI's Batch API: half the price, answered within 24 hours):
    strategies run their local steps (retrieval, example selection), the requests are submitted, the
    batch is polled, and each answer is scored and stored exactly as in a live run, priced at the
    batch rate. A provider without batches is a [`ConfigError`][tunewise.ConfigError] before anything is
    submitted; a strategy that does not declare ``batchable`` runs live (``notes`` says so). The batch
    ids are kept in the run store: the same run again re-attaches to them and never submits twice.
    Failed requests are retried once in a follow-up batch, or live (``BatchOptions(retry="live")``).
    A budget cannot stop a batch once submitted; it still stops the live part. ``batch`` changes no
    answer, so it is not part of the run id either.
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
    batch_options = BatchOptions() if batch is True else batch or None
    case_list, metric_list = _checked_inputs(strategies, cases, metrics, group_by)
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
                **({"batch": batch_options.describe()} if batch_options is not None else {}),
            },
            concurrency=concurrency,
            timeout=timeout,
            cost=cost,
            cache=cache,
            budget=budget,
            progress=progress,
            on_result=on_result,
            batch=batch_options,
        )
    finally:
        if owned:
            run_store.close()


def _checked_inputs(
    strategies: Sequence[Strategy],
    cases: Sequence[Case] | str | Path,
    metrics: Sequence[MetricLike],
    group_by: str | None,
) -> tuple[list[Case], list[Metric]]:
    """The cases and metrics of a run, after a one-line ConfigError for anything that cannot make one."""
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
    return case_list, metric_list


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
    batch: BatchOptions | None = None,
) -> RunSummary:
    """The body of [`evaluate()`][tunewise.evaluation.evaluate], once inputs are checked and the store is open."""
    names = [s.name for s in strategies]
    run_store.begin_run(run_id, config=run_config, config_hash=fingerprint, strategies=names, n_cases=len(case_list))
    done = run_store.completed(run_id)
    jobs = [
        (index, case, strategy)
        for index, case in enumerate(case_list)
        for strategy in strategies
        if (strategy.name, case.id) not in done
    ]
    run = _Run(
        run_id=run_id,
        metrics=metric_list,
        store=run_store,
        timeout=timeout,
        cost=cost,
        cache=cache,
        budget=budget,
        on_result=on_result,
        previous_attempts=run_store.attempts(run_id),
    )
    hits_before = cache.hits if cache is not None else 0
    started = time.perf_counter()
    bar = _ProgressBar(run_id, len(jobs)) if progress else None
    batch_run: BatchRun | None = None
    try:
        with use_cache(cache):
            if batch is None:
                await run.pool(jobs, concurrency, bar)
            else:
                batch_run = BatchRun(run, batch, concurrency=concurrency, bar=bar)
                live = await batch_run.prepare(jobs)  # local steps; a provider without batches fails here
                async with anyio.create_task_group() as group:
                    group.start_soon(run.pool, live, concurrency, bar)
                    retry_live = await batch_run.complete()
                await run.pool(retry_live, concurrency, bar)
    finally:
        if bar is not None:
            bar.stop()
    skipped = len(case_list) * len(strategies) - len(jobs)
    if run.errors == 0 and skipped + run.ok == len(case_list) * len(strategies):
        run_store.finish_run(run_id)
    left = len(jobs) - run.ok - run.errors
    run.raise_if_over_budget(skipped, left)
    hits = (cache.hits - hits_before) if cache is not None else 0
    summary = run.summary(skipped=skipped, left=left, wall_s=time.perf_counter() - started, cache_hits=hits)
    if batch_run is not None:
        summary = dataclasses.replace(summary, batches=tuple(batch_run.batch_ids), notes=tuple(batch_run.notes))
    return summary


Job = tuple[int, Case, Strategy]
"""(case index, case, strategy): one pair the run is due to answer."""


@dataclass
class _Run:
    """One ``evaluate`` call in progress: answers, scores and stores each pair, and keeps the tallies.

    Workers share one instance; each worker takes the next pair from a shared queue until the
    queue is empty, an error every case would hit has stopped the run, or the budget is spent.
    """

    run_id: str
    metrics: Sequence[Metric]
    store: RunStore
    timeout: float | None
    cost: CostFunction | None
    cache: ResponseCache | None
    budget: float | None
    on_result: Callable[[CaseResult], None] | None
    previous_attempts: Mapping[tuple[str, str], int]
    ok: int = 0
    errors: int = 0
    costs: list[float | None] = field(default_factory=list)
    """The cost of each answer stored ``ok`` in this call (``None``: unknown)."""
    failed: list[CaseResult] = field(default_factory=list)
    stopped: str | None = None
    """Why no further case starts: an error every case would hit (bad key, missing model)."""
    halt: str | None = None
    """Why the budget lets no new case start: spent, or a price unknown (``price_unknown``)."""
    price_unknown: bool = False
    spent: float = 0.0

    async def pool(self, jobs: Sequence[Job], concurrency: int, bar: _ProgressBar | None) -> None:
        """Run ``jobs`` live with ``concurrency`` workers sharing one queue."""
        queue = iter(jobs)
        async with anyio.create_task_group() as group:
            for _ in range(min(concurrency, len(jobs))):
                group.start_soon(self.work, queue, bar)

    async def work(self, queue: Iterator[Job], bar: _ProgressBar | None) -> None:
        """One worker: run pairs from ``queue`` until it is empty or the run stops."""
        for index, case, strategy in queue:
            if self.halt is not None or self.stopped is not None:
                return
            result = await self.run_one(index, case, strategy)
            self.record(result, strategy, case, bar)

    def record(self, result: CaseResult, strategy: Strategy, case: Case, bar: _ProgressBar | None) -> None:
        """Store one result the moment it is known, and count it (tallies, budget, progress)."""
        self.store.write(result)
        if result.status == "ok":
            self.ok += 1
            self.costs.append(result.cost)
            self.charge(result, strategy, case)
        else:
            self.errors += 1
            self.failed.append(result)
        if self.on_result is not None:
            self.on_result(result)
        if bar is not None:
            bar.advance(f"{self.ok} ok, {self.errors} errors")

    async def run_one(
        self, index: int, case: Case, strategy: Strategy, *, cost: CostFunction | None = None
    ) -> CaseResult:
        """Answer ``case`` with ``strategy`` and score it; an error becomes an ``error`` result, never a raise.

        ``cost`` prices the answer's calls instead of the run's (a batch's answers at the batch rate).
        """
        begun = time.perf_counter()
        base: dict[str, Any] = {
            "run_id": self.run_id,
            "strategy": strategy.name,
            "case_id": case.id,
            "case_index": index,
            "case": case.model_dump(mode="json"),
            "attempts": self.previous_attempts.get((strategy.name, case.id), 0) + 1,
        }
        try:
            answer = await self.respond(strategy, case)
        except TimeoutError:
            error = f"timed out after {self.timeout:g}s"
            return CaseResult(**base, status="error", error=error, latency_s=time.perf_counter() - begun)
        except Exception as exc:  # a strategy bug or bad case must not stop the other cases
            line = self.failure(exc)
            return CaseResult(**base, status="error", error=line, latency_s=time.perf_counter() - begun)
        latency = time.perf_counter() - begun
        scores, details, judged = await self.score(case, answer)
        try:
            paid: float | None = answer_cost(answer, cost or self.cost, self.cache)
            scoring: float | None = _scoring_cost(judged, self.cost)
        except Exception as exc:  # a broken price function must not lose an answer already paid for
            paid = scoring = None
            details["cost"] = f"error: {error_line(exc)}"
        return CaseResult(
            **base,
            status="ok",
            requests=[r.model_dump(mode="json", exclude_defaults=True) for r in answer.requests],
            response=answer.text,
            answer=answer.model_dump(mode="json", exclude={"requests", "calls"}),
            usage=answer.usage,
            latency_s=latency,
            cost=paid,
            scoring_cost=scoring,
            scores=scores,
            details=details,
            cached=bool(answer.calls) and all(call.cached for call in answer.calls),
            handoff=answer.handoff,
        )

    async def respond(self, strategy: Strategy, case: Case) -> Answer:
        # No retry here: the provider already spent its retry budget on this call.
        if self.timeout is None:
            return await strategy.respond(case.input)
        with anyio.fail_after(self.timeout):
            return await strategy.respond(case.input)

    def failure(self, exc: Exception) -> str:
        """The stored line for a failed answer; an error every case would hit alike stops the run."""
        error = sole_error(exc)
        line = error_line(error, with_type=not isinstance(error, ProviderError))
        if stops_run(error) and self.stopped is None:  # every other case would fail alike: run no more
            self.stopped = line
        return line

    async def score(self, case: Case, answer: Answer) -> tuple[dict[str, float], dict[str, str], list[Score]]:
        """Every metric on ``answer``: the scores, the details (reasons, errors, not applicable) and the judged."""
        scores: dict[str, float] = {}
        details: dict[str, str] = {}
        judged: list[Score] = []
        for metric in self.metrics:
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
        return scores, details, judged

    def charge(self, result: CaseResult, strategy: Strategy, case: Case) -> None:
        """Count an ``ok`` result against the budget; halt new cases once it is spent or cannot be kept."""
        if self.budget is None:
            return
        fresh = 0.0 if result.cached else result.cost
        if fresh is None or result.scoring_cost is None:
            self.price_unknown = True
            unknown = f"the cost of {strategy.name!r} on case {case.id!r} is unknown, so the budget cannot be kept"
            self.halt = self.halt or unknown
            return
        self.spent += fresh + result.scoring_cost
        if self.spent >= self.budget:
            self.halt = self.halt or f"spent ${self.spent:.4g} of the ${self.budget:.4g} budget"

    def summary(self, *, skipped: int, left: int, wall_s: float, cache_hits: int) -> RunSummary:
        """What this call did, for [`evaluate()`][tunewise.evaluation.evaluate] to return."""
        return RunSummary(
            run_id=self.run_id,
            store=self.store.path,
            ran=self.ok + self.errors,
            ok=self.ok,
            errors=self.errors,
            skipped=skipped,
            cost=sum_known(*self.costs),
            wall_s=wall_s,
            cache_hits=cache_hits,
            causes=tuple(error_causes(sorted(self.failed, key=lambda r: (r.case_index, r.strategy)))),
            stopped=self.stopped,
            not_run=left if self.stopped is not None else 0,
        )

    def raise_if_over_budget(self, skipped: int, left: int) -> None:
        """`BudgetExceededError` when the budget stopped the run (not when it just finished)."""
        if self.halt is not None and self.stopped is None and (left > 0 or self.price_unknown):
            raise BudgetExceededError(
                f"run {self.run_id}: stopped, {self.halt}; {self.ok + skipped} results stored, {left} not run; "
                "run again with a larger budget to resume"
            )


class _ProgressBar:
    """A rich progress bar on stderr: pairs done of pairs due, with the ok/error tally."""

    def __init__(self, run_id: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar: Progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task: TaskID = self.bar.add_task(run_id, total=total, status="")
        self.bar.start()

    def advance(self, status: str) -> None:
        self.bar.update(self.task, advance=1, status=status)

    def add(self, description: str, total: int) -> TaskID:
        """One more line under the run's (a batch being polled)."""
        return self.bar.add_task(description, total=total, status="")

    def show(self, task: TaskID, *, completed: int, total: int | None = None, status: str = "") -> None:
        """Set ``task``'s line to ``completed`` of ``total`` with ``status``."""
        self.bar.update(task, completed=completed, total=total, status=status)

    def stop(self) -> None:
        self.bar.stop()

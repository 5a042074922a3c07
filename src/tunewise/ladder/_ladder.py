"""The ladder: climb from the cheapest technique to the most expensive, stop when good enough.

Each rung is a strategy evaluated on the test split with [`evaluate`][tunewise.evaluation.evaluate]
(one SQLite run store in the output folder, one run per rung). The stop rule looks at the
lower bound of the target metric's confidence interval; before each rung its cost is
estimated, and the ladder stops rather than exceed the budget. Progress is kept in
``state.json`` so a killed ladder resumes where it was.

This module is the orchestrator only: the shared parts are in `_context`, each rung kind in
`_rungs`, the estimates and budget in `_budget`, a rung's numbers in `_measure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from tunewise._errors import BudgetExceededError, ConfigError, FineTuneError, ProviderError
from tunewise._refs import ModelRef
from tunewise.interfaces.batch import batch_client
from tunewise.ladder._budget import (
    ASSUMED_S_PER_TOKEN,
    ASSUMED_TRAIN_S_PER_TOKEN,
    FINE_TUNE_RUNGS,
    PROMPT_RUNGS,
    Estimate,
    check_budget,
    conversation_tokens,
    estimate,
    estimate_tokens,
)
from tunewise.ladder._config import LadderConfig, RungKind, load_ladder_config
from tunewise.ladder._context import LadderContext
from tunewise.ladder._measure import RungFailed, failure_of, metric_values, summarize
from tunewise.ladder._paths import CONFIG_FILE, STATE_FILE, STORE_FILE
from tunewise.ladder._recommend import recommend
from tunewise.ladder._report import write_report
from tunewise.ladder._rungs import run_rung

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.evaluation import Case, Metric
    from tunewise.interfaces.provider import Provider
    from tunewise.ladder._recommend import Recommendation
    from tunewise.ladder._state import LadderState, RungResult

__all__ = [
    "ASSUMED_S_PER_TOKEN",
    "ASSUMED_TRAIN_S_PER_TOKEN",
    "CONFIG_FILE",
    "FINE_TUNE_RUNGS",
    "PROMPT_RUNGS",
    "STATE_FILE",
    "STORE_FILE",
    "Estimate",
    "Ladder",
    "LadderOutcome",
    "RungFailed",
    "conversation_tokens",
    "estimate_tokens",
    "failure_of",
    "metric_values",
    "run_ladder",
    "summarize",
]


@dataclass
class LadderOutcome:
    """What [`run_ladder`][tunewise.ladder.run_ladder] leaves: the state and where it all is.

    The state holds the rungs measured and skipped and what they spent.
    """

    config: LadderConfig
    state: LadderState

    @property
    def out(self) -> Path:
        """The output folder."""
        return self.config.out

    def recommendation(self) -> Recommendation:
        """The decision with its reasons (see [`recommend`][tunewise.ladder.recommend])."""
        return recommend(self.config, self.state)


class Ladder:
    """One ladder over one config. Use [`run_ladder`][tunewise.ladder.run_ladder] unless you need the parts."""

    def __init__(
        self,
        config: LadderConfig,
        *,
        registry: Registry | None = None,
        providers: Mapping[str, Provider] | None = None,
        progress: bool = False,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = LadderContext(config, registry=registry, providers=providers, progress=progress, on_event=on_event)

    @property
    def config(self) -> LadderConfig:
        """The ladder's config."""
        return self.ctx.config

    @property
    def state(self) -> LadderState:
        """What was measured, skipped and spent so far (``state.json``)."""
        return self.ctx.state

    @property
    def train(self) -> list[Case]:
        """The train split's cases."""
        return self.ctx.train

    @property
    def dev(self) -> list[Case]:
        """The dev split's cases (the instruction search scores on them)."""
        return self.ctx.dev

    @property
    def test(self) -> list[Case]:
        """The test split's cases (every rung is measured on them)."""
        return self.ctx.test

    @property
    def metric(self) -> Metric:
        """The target metric."""
        return self.ctx.metric

    def estimate(self, rung: RungKind) -> Estimate:
        """The rung's expected cost: its test evaluation, plus dev scoring and writing, or training."""
        return estimate(self.ctx, rung)

    def check_budget(self, rung: RungKind, expected: Estimate) -> str | None:
        """Why ``rung`` must not start with the ``expected`` cost, or ``None`` when it fits the budget."""
        return check_budget(self.ctx.config, self.ctx.state, rung, expected)

    def training_tokens(self) -> int:
        """Billed training tokens per epoch of the fine-tune rung's training set (counted by the data toolkit)."""
        return self.ctx.training.tokens()

    def epochs(self) -> int:
        """The fine-tune's epochs: the configured number, else the data toolkit's choice."""
        return self.ctx.training.epochs()

    def save(self) -> None:
        """Write ``state.json``."""
        self.ctx.save()

    def event(self, message: str) -> None:
        """Tell the caller's ``on_event``."""
        self.ctx.event(message)

    async def run(self) -> LadderOutcome:
        """Climb the rungs still to run, in order, until one reaches the target or the budget stops it."""
        ctx = self.ctx
        self.preflight()  # before anything is written: a typo in a model reference leaves no folder behind
        ctx.config.out.mkdir(parents=True, exist_ok=True)
        (ctx.config.out / CONFIG_FILE).write_text(ctx.config.model_dump_json(indent=2), encoding="utf-8")
        ctx.state.stopped = None
        ctx.state.failure = None
        ctx.save()
        try:
            self.regroup()
            for index, rung in enumerate(ctx.config.rungs):
                if not await self._climb(index, rung):
                    break
            else:
                if not any(r.status == "passed" for r in ctx.state.results.values()):
                    ctx.state.stopped = "no rung reached the target"
            ctx.save()
        finally:
            ctx.close_store()
        return LadderOutcome(config=ctx.config, state=ctx.state)

    async def _climb(self, index: int, rung: RungKind) -> bool:
        """Run one rung (or find it done, or skip it); ``False`` when the climb stops here."""
        ctx, state = self.ctx, self.ctx.state
        if rung in state.results:
            ctx.event(f"{rung}: done earlier (mean {state.results[rung].mean:.3f})")
            return not self._reached(index, rung, state.results[rung])
        if rung == "rag_fine_tuned" and "fine_tune" not in state.results:
            state.skipped[rung] = "the fine-tune rung did not produce a model"
            return True
        expected = estimate(ctx, rung)
        why = check_budget(ctx.config, state, rung, expected)
        if why is not None:
            return self._stop(index - 1, f"budget: {why}", why, why)
        state.skipped.pop(rung, None)
        ctx.start_rung()
        ctx.event(f"{rung}: starting (estimated {_dollars(expected.dollars)}, {expected.tokens:,} tokens)")
        try:
            result = await run_rung(ctx, rung)
        except BudgetExceededError as exc:
            return self._stop(index - 1, f"budget: {exc}", "the budget ran out during this rung", str(exc))
        except RungFailed as exc:
            failure = exc.failure.model_copy(update={"rung": rung})
            state.failure = failure
            why = f"the ladder stopped when {rung} failed"
            return self._stop(index, f"failed: {failure.summary()}", why, failure.summary())
        except FineTuneError as exc:
            state.skipped[rung] = f"the fine-tune failed: {exc}"
            ctx.event(f"{rung}: fine-tune failed: {exc}")
            ctx.save()
            return True
        state.results[rung] = result
        state.add_spend(result.spent, result.tokens)
        ctx.save()
        ctx.event(
            f"{rung}: {ctx.metric.name} {result.mean:.3f} "
            f"({result.confidence:.0%} CI {result.ci_low:.3f}..{result.ci_high:.3f}) -> {result.status}"
        )
        return not self._reached(index, rung, result)

    def _reached(self, index: int, rung: RungKind, result: RungResult) -> bool:
        """Whether the climb ends at this rung because it reached the target (the rest is skipped)."""
        if result.status == "passed" and self.ctx.config.stop_at_target:
            self._skip_rest(index, f"the target was reached at {rung}")
            return True
        return False

    def _stop(self, index: int, stopped: str, why: str, said: str) -> bool:
        """Stop the climb: ``stopped`` in the state, the rungs after ``index`` skipped for ``why``."""
        self.ctx.state.stopped = stopped
        self._skip_rest(index, why)
        self.ctx.event(f"stopped: {said}")
        return False

    def regroup(self) -> None:
        """Finished rungs split by another ``report.group_by`` than now: split their stored answers again."""
        ctx = self.ctx
        changed = False
        for rung, result in list(ctx.state.results.items()):
            if result.group_by != ctx.config.report.group_by:
                # A rung that reused another's answers (optimized_prompt) names that run, whose one strategy
                # has another name: every ladder run holds one strategy, so the run's results are the rung's.
                answers = ctx.store.results(result.run_id, result.strategy) or ctx.store.results(result.run_id)
                _, group_by, groups = ctx.scoring.breakdown(answers)
                ctx.state.results[rung] = result.model_copy(update={"group_by": group_by, "groups": groups})
                how = f"split by {group_by}" if group_by else "no longer split"
                ctx.event(f"{rung}: {how}, from the stored answers (no model call)")
                changed = True
        if changed:
            ctx.save()

    def preflight(self) -> None:
        """Fail in one line, before any rung runs, when a rung still to run names a provider that cannot serve it.

        No such plugin, or no API key: every one of its calls would fail alike. With ``batch``, a provider
        without a batch API fails here too (the optimizer's model is exempt: its rounds run live).
        """
        config = self.ctx.config
        todo = [r for r in config.rungs if r not in self.ctx.state.results]
        refs: dict[str, str] = {}
        if any(r in (*PROMPT_RUNGS, "rag") for r in todo):
            refs["models.base"] = config.models.base
        if "optimized_prompt" in todo:
            refs["models.optimizer"] = config.optimizer_model
        if any(r in FINE_TUNE_RUNGS for r in todo):
            refs["models.fine_tune_base"] = config.fine_tune_base
        for field, ref in refs.items():
            try:
                provider = self.ctx.provider(ModelRef.parse(ref).prefix)
            except ConfigError as exc:
                raise type(exc)(f"{config.path}: {field} ({ref}): {exc}") from None
            if config.batch and field != "models.optimizer" and batch_client(provider) is None:
                raise ConfigError(
                    f"{config.path}: {field} ({ref}): its provider ({provider.name}) does not support batches; "
                    "run live (without --batch or batch = true)"
                )

    def _skip_rest(self, index: int, why: str) -> None:
        for rung in self.ctx.config.rungs[index + 1 :]:
            if rung not in self.ctx.state.results:
                self.ctx.state.skipped[rung] = why
        self.ctx.save()


def _dollars(value: float | None) -> str:
    return "unknown cost" if value is None else f"${value:.4g}"


async def run_ladder(
    config: LadderConfig | str | Path,
    *,
    model: str | None = None,
    out: str | Path | None = None,
    registry: Registry | None = None,
    providers: Mapping[str, Provider] | None = None,
    progress: bool = False,
    on_event: Callable[[str], None] | None = None,
    report: bool = True,
    learning_curve: bool = False,
    batch: bool = False,
) -> LadderOutcome:
    """Climb the ladder described by ``config`` (a TOML path or a parsed config); resumes from its output folder.

    ``providers`` maps model-reference prefixes to provider objects to use instead of
    plugins (a [`ScriptedProvider`][tunewise.testing.ScriptedProvider] in tests, your own provider).
    With ``report``, ``report.md`` and ``report.html`` are written to the output folder.
    ``learning_curve`` turns on ``fine_tune.learning_curve`` for a TOML path (``--learning-curve``), and
    ``batch`` its ``batch`` (``--batch``: test-split measurements through the provider's batch API).
    """
    parsed = (
        config
        if isinstance(config, LadderConfig)
        else load_ladder_config(config, model=model, out=out, learning_curve=learning_curve, batch=batch)
    )
    started = time.perf_counter()
    ladder = Ladder(parsed, registry=registry, providers=providers, progress=progress, on_event=on_event)
    try:
        outcome = await ladder.run()
    except ProviderError:
        ladder.save()
        raise
    finally:
        if registry is None and ladder.ctx.registry is not None:
            with anyio.CancelScope(shield=True):
                await ladder.ctx.registry.aclose()
    if report:
        write_report(parsed.out)
    ladder.event(f"ladder finished in {time.perf_counter() - started:.1f}s")
    return outcome

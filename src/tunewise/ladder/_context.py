"""What every part of a climb shares: the config, the splits, the models, the run store, the state, the budget.

One [`LadderContext`][tunewise.ladder._context.LadderContext] per ladder; the rung modules
(`tunewise.ladder._rungs`) and the estimates (`tunewise.ladder._budget`) take it as their argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tunewise._errors import ConfigError
from tunewise._model import Model
from tunewise._refs import ModelRef
from tunewise._registry import Registry
from tunewise.costs import price, quote, sum_known
from tunewise.evaluation import Metric, RunStore, as_metric, evaluate, load_cases
from tunewise.ladder._config import LadderConfig
from tunewise.ladder._knowledge import build_retriever
from tunewise.ladder._measure import RungFailed, Scoring, failure_of
from tunewise.ladder._paths import STATE_FILE, STORE_FILE
from tunewise.ladder._state import LadderState
from tunewise.ladder._training import TrainingSet
from tunewise.retrieval import build_embedder

if TYPE_CHECKING:
    from tunewise._types import Usage
    from tunewise.evaluation import Case, CaseResult
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.provider import Provider
    from tunewise.interfaces.retriever import Retriever
    from tunewise.interfaces.strategy import Strategy


class LadderContext:
    """One ladder's shared parts; built from the config, it reads the splits and the saved state."""

    def __init__(
        self,
        config: LadderConfig,
        *,
        registry: Registry | None = None,
        providers: Mapping[str, Provider] | None = None,
        progress: bool = False,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self._providers = dict(providers or {})
        self.progress = progress
        self._on_event = on_event
        self.train_path, dev, test = self._dataset_files()
        self.train = load_cases(self.train_path)
        self.dev = load_cases(dev)
        self.test = load_cases(test)
        self.scoring = self._scoring()
        self.system = config.system_prompt
        self.training = TrainingSet(config, self.train, self.train_path)
        self.state_path = config.out / STATE_FILE
        self.state = LadderState.load(self.state_path, config.fingerprint())
        self._store: RunStore | None = None
        self._retriever: Retriever | None = None
        self._embedder: Embedder | None = None
        self._pending: float | None = 0.0

    def _dataset_files(self) -> tuple[Path, Path, Path]:
        """The three splits; one ``file`` is split by the data toolkit (deterministic, so a resume sees the same)."""
        dataset = self.config.dataset
        train, dev, test = dataset.paths(self.config.out)
        if dataset.file is not None:
            from tunewise.data import split

            split(dataset.file, train.parent, ratios=dataset.split, seed=dataset.seed)
        return train, dev, test

    def _scoring(self) -> Scoring:
        """The target and report metrics, each error naming its config field; ``group_by`` checked on the test."""
        config = self.config
        try:
            metric = as_metric(config.target.metric, registry=self.registry)
        except ConfigError as exc:
            raise ConfigError(f"{config.path}: target.metric: {exc}") from None
        others: list[Metric] = []
        for i, spec in enumerate(config.report.metrics):
            try:
                others.append(as_metric(spec, registry=self.registry))
            except ConfigError as exc:
                raise ConfigError(f"{config.path}: report.metrics[{i}]: {exc}") from None
        key = config.report.group_by
        if key is not None and not any(c.metadata.get(key) not in (None, "") for c in self.test):
            found = ", ".join(sorted({k for c in self.test for k in c.metadata})) or "none"
            raise ConfigError(f"{config.path}: report.group_by: no test case has metadata.{key} (keys found: {found})")
        return Scoring(
            metric, others, confidence=config.target.confidence, threshold=config.target.threshold, group_by=key
        )

    @property
    def metric(self) -> Metric:
        """The target metric."""
        return self.scoring.metric

    # --- models ------------------------------------------------------------------------

    def event(self, message: str) -> None:
        """Tell the caller's ``on_event`` (the CLI prints it)."""
        if self._on_event is not None:
            self._on_event(message)

    def _registry(self) -> Registry:
        if self.registry is None:
            self.registry = Registry()
        return self.registry

    def model(self, ref: str | ModelRef) -> Model:
        """A model handle: from the providers given to the ladder, else the registry (plugins)."""
        parsed = ModelRef.parse(ref)
        if parsed.prefix in self._providers:
            return Model(parsed, self._providers[parsed.prefix])
        return self._registry().model(parsed)

    def provider(self, prefix: str) -> Provider:
        """The provider serving ``prefix``: one given to the ladder, else a plugin's."""
        if prefix in self._providers:
            return self._providers[prefix]
        return self._registry().provider(prefix)

    def embedder(self) -> Embedder:
        """The ladder's embedder, used by few-shot selection and retrieval.

        ``retrieval.embedder`` names it: ``hashing`` (instant, lexical),
        ``sentence-transformers:all-MiniLM-L6-v2`` (packaged, offline) or ``PREFIX:MODEL`` served by a provider.
        """
        if self._embedder is None:
            spec = self.config.retrieval.embedder
            try:
                self._embedder = build_embedder(spec, registry=self._registry, providers=self._providers)
            except ConfigError as exc:
                raise ConfigError(f"{self.config.path}: retrieval.embedder: {exc}") from None
        return self._embedder

    async def retriever(self) -> Retriever:
        """The knowledge base's retriever, built (and indexed) once."""
        if self._retriever is None:
            self._retriever = await build_retriever(self.config, self.registry, self.embedder())
        return self._retriever

    def examples(self) -> list[dict[str, str]]:
        """The training cases with a reference, as few-shot examples."""
        return [{"input": c.question, "output": c.reference} for c in self.train if c.reference]

    # --- spending ----------------------------------------------------------------------

    def cost(self, ref: str, usage: Usage, *, batch: bool = False) -> float | None:
        """The evaluation cost function: the price catalog with settings overrides (batch rate when batched).

        A model without a price is said once, as an
        [`UnknownPriceWarning`][tunewise.costs.UnknownPriceWarning]; other unknowns (no token counts)
        show as unknown in the report.
        """
        cost = price(ref, usage, batch=batch)
        if cost.unknown is not None and quote(ref) is None and ref not in self.state.unknown_prices:
            self.state.unknown_prices.append(ref)
            cost.warn(stacklevel=2)
        return cost.dollars

    def start_rung(self) -> None:
        """A rung starts: nothing spent inside it yet."""
        self._pending = 0.0

    def budget_left(self) -> float | None:
        """Dollars the rest of the ladder may spend: the limit less what finished rungs and this rung spent."""
        limit = self.config.budget.max_dollars
        if limit is None or self.state.spent is None:
            return None
        return max(limit - self.state.spent - (self._pending or 0.0), 0.0)

    def pay(self, dollars: float | None) -> None:
        """Count spending inside the running rung, so its next evaluation gets only what is left."""
        self._pending = sum_known(self._pending, dollars)

    # --- store and state ---------------------------------------------------------------

    @property
    def store(self) -> RunStore:
        """The run store in the output folder, opened on first use."""
        if self._store is None:
            self._store = RunStore(self.config.out / STORE_FILE)
        return self._store

    def close_store(self) -> None:
        """Close the run store if it was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def save(self) -> None:
        """Write ``state.json``."""
        self.state.save(self.state_path)

    async def evaluate(
        self, strategy: Strategy, cases: Sequence[Case], run_id: str, *, report_metrics: bool = True
    ) -> list[CaseResult]:
        """Run one strategy on ``cases`` under ``run_id`` (resuming it) and return its stored results.

        Test runs score the target and the report's metrics; dev runs (``report_metrics=False``) the target only.
        With ``batch`` in the config, test runs go through the provider's batch API.
        Raises [`RungFailed`][tunewise.ladder._measure.RungFailed] when most cases failed.
        """
        budget = self.budget_left()
        summary = await evaluate(
            [strategy],
            cases,
            [self.metric, *(self.scoring.report_metrics if report_metrics else [])],
            store=self.store,
            run_id=run_id,
            concurrency=self.config.concurrency,
            timeout=self.config.timeout,
            cost=self.cost,
            budget=budget if budget is not None and budget > 0 else None,
            progress=self.progress,
            config={"ladder": self.state.fingerprint},
            batch=self.config.batch and report_metrics,  # the optimizer's dev rounds stay live
        )
        self.pay(summary.cost)
        results = self.store.results(run_id, strategy.name)
        split = "test" if report_metrics else "dev"
        failure = failure_of(results, len(cases), stopped=summary.stopped, split=split)
        if failure is not None:
            raise RungFailed(failure)
        return results

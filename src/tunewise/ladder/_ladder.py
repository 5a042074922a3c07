"""The ladder: climb from the cheapest technique to the most expensive, stop when good enough.

Each rung is a strategy evaluated on the test split with :func:`tunewise.evaluation.evaluate`
(one SQLite run store in the output folder, one run per rung). The stop rule looks at the
lower bound of the target metric's confidence interval; before each rung its cost is
estimated, and the ladder stops rather than exceed the budget. Progress is kept in
``state.json`` so a killed ladder resumes where it was.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tunewise._errors import BudgetExceededError, ConfigError, DataError, FineTuneError, ProviderError
from tunewise._refs import ModelRef
from tunewise._types import Message, Usage
from tunewise.ladder._config import LadderConfig, RungKind, load_ladder_config
from tunewise.ladder._optimize import DEFAULT_INSTRUCTION, Failure, parse_candidates, writer_prompt
from tunewise.ladder._state import (
    Candidate,
    FineTuneRecord,
    GroupResult,
    LadderState,
    MetricSummary,
    RungFailure,
    RungResult,
)

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._registry import Registry
    from tunewise.data import DataReport
    from tunewise.evaluation._cases import Case
    from tunewise.evaluation._metrics import Metric
    from tunewise.evaluation._runstore import CaseResult, RunStore
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.provider import Provider
    from tunewise.interfaces.retriever import Retriever
    from tunewise.interfaces.strategy import Strategy
    from tunewise.ladder._recommend import Recommendation

STATE_FILE = "state.json"
CONFIG_FILE = "config.json"
STORE_FILE = "runs.sqlite"
PROMPT_RUNGS: tuple[RungKind, ...] = ("zero_shot", "few_shot", "optimized_prompt")
FINE_TUNE_RUNGS: tuple[RungKind, ...] = ("fine_tune", "rag_fine_tuned")


ASSUMED_S_PER_TOKEN = 0.02
"""Seconds of local compute per prompt+completion token, assumed for a budget estimate only until the
ladder has measured its model (a deliberately slow CPU figure: the estimate errs high, never at zero)."""
ASSUMED_TRAIN_S_PER_TOKEN = 0.01
"""Seconds of local training per token x epoch, assumed until the fine-tune job has measured its own."""


def estimate_tokens(text: str) -> float:
    """Tokens in ``text`` for budgeting: about four characters per token, as OpenAI's guidance for English."""
    return len(text) / 4


def conversation_tokens(messages: Sequence[Message]) -> float:
    """Prompt tokens of a conversation: its text plus OpenAI's few tokens of overhead per message."""
    return sum(estimate_tokens(m.content or "") + 4 for m in messages) + 3


class RungFailed(Exception):
    """Raised inside the ladder when a rung's evaluation mostly failed; :meth:`Ladder.run` stops on it."""

    def __init__(self, failure: RungFailure) -> None:
        super().__init__(failure.summary())
        self.failure = failure


def failure_of(results: Sequence[CaseResult], cases: int, *, stopped: str | None, split: str) -> RungFailure | None:
    """The failure of an evaluation whose cases mostly errored, else ``None``.

    Mostly: more than half of its ``cases`` failed with an error, or an error every case would hit
    alike stopped the run early (``stopped``, from :class:`~tunewise.evaluation.RunSummary`).
    A few failed cases (a prompt too long for the context) count as 0 and the rung is scored.
    """
    from tunewise.evaluation._failures import error_causes, normalize_error

    causes = error_causes(results)
    errors = sum(c.count for c in causes)
    if stopped is None and errors * 2 <= cases:
        return None
    cause = normalize_error(stopped) if stopped is not None else causes[0].cause
    return RungFailure(
        rung="", cause=cause, errors=errors, cases=cases, split=split, stopped_early=stopped is not None, causes=causes
    )


@dataclass(frozen=True)
class Estimate:
    """What a rung is expected to cost before it starts; ``dollars`` ``None`` when a price is unknown."""

    dollars: float | None
    tokens: int


@dataclass
class LadderOutcome:
    """What :func:`run_ladder` leaves: the state (rungs measured, skipped, spend) and where it all is."""

    config: LadderConfig
    state: LadderState

    @property
    def out(self) -> Path:
        return self.config.out

    def recommendation(self) -> Recommendation:
        """The decision with its reasons (see :func:`tunewise.ladder.recommend`)."""
        from tunewise.ladder._recommend import recommend

        return recommend(self.config, self.state)


class Ladder:
    """One ladder over one config. Use :func:`run_ladder` unless you need the parts."""

    def __init__(
        self,
        config: LadderConfig,
        *,
        registry: Registry | None = None,
        providers: Mapping[str, Provider] | None = None,
        progress: bool = False,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        from tunewise.evaluation._cases import load_cases
        from tunewise.evaluation._metrics import as_metric

        self.config = config
        self._registry = registry
        self._providers = dict(providers or {})
        self.progress = progress
        self._on_event = on_event
        train, dev, test = self._dataset_files()
        self.train_path = train
        self.train = load_cases(train)
        self.dev = load_cases(dev)
        self.test = load_cases(test)
        try:
            self.metric: Metric = as_metric(config.target.metric, registry=registry)
        except ConfigError as exc:
            raise ConfigError(f"{config.path}: target.metric: {exc}") from None
        self.report_metrics: list[Metric] = []
        for i, spec in enumerate(config.report.metrics):
            try:
                self.report_metrics.append(as_metric(spec, registry=registry))
            except ConfigError as exc:
                raise ConfigError(f"{config.path}: report.metrics[{i}]: {exc}") from None
        key = config.report.group_by
        if key is not None and not any(c.metadata.get(key) not in (None, "") for c in self.test):
            found = ", ".join(sorted({k for c in self.test for k in c.metadata})) or "none"
            raise ConfigError(f"{config.path}: report.group_by: no test case has metadata.{key} (keys found: {found})")
        self.system = config.system_prompt
        self.state_path = config.out / STATE_FILE
        self.state = LadderState.load(self.state_path, config.fingerprint())
        self._store: RunStore | None = None
        self._retriever: Retriever | None = None
        self._pending: float | None = 0.0
        self._training: DataReport | None = None
        self._embedder: Embedder | None = None

    # --- plumbing --------------------------------------------------------------------

    def _dataset_files(self) -> tuple[Path, Path, Path]:
        """The three splits; one ``file`` is split by the data toolkit (deterministic, so a resume sees the same)."""
        dataset = self.config.dataset
        train, dev, test = dataset.paths(self.config.out)
        if dataset.file is not None:
            from tunewise.data import split

            split(dataset.file, train.parent, ratios=dataset.split, seed=dataset.seed)
        return train, dev, test

    def event(self, message: str) -> None:
        if self._on_event is not None:
            self._on_event(message)

    def model(self, ref: str | ModelRef) -> Model:
        """A model handle: from the providers given to the ladder, else the registry (plugins)."""
        from tunewise._model import Model

        parsed = ModelRef.parse(ref)
        if parsed.prefix in self._providers:
            return Model(parsed, self._providers[parsed.prefix])
        if self._registry is None:
            from tunewise._registry import Registry

            self._registry = Registry()
        return self._registry.model(parsed)

    def provider(self, prefix: str) -> Provider:
        if prefix in self._providers:
            return self._providers[prefix]
        if self._registry is None:
            from tunewise._registry import Registry

            self._registry = Registry()
        return self._registry.provider(prefix)

    def cost(self, ref: str, usage: Usage) -> float | None:
        """The evaluation cost function: the price catalog (with settings overrides); unknown said once per model."""
        from tunewise.costs import cost_of, quote

        if quote(ref) is None:
            if ref not in self.state.unknown_prices:
                self.state.unknown_prices.append(ref)
                from tunewise.costs._cost import unknown_price_message, warn_unknown

                warn_unknown(unknown_price_message(ref))
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cost_of(ref, usage)

    @property
    def store(self) -> RunStore:
        if self._store is None:
            from tunewise.evaluation._runstore import RunStore

            self._store = RunStore(self.config.out / STORE_FILE)
        return self._store

    def save(self) -> None:
        self.state.save(self.state_path)

    def budget_left(self) -> float | None:
        """Dollars the rest of the ladder may spend: the limit less what finished rungs and this rung spent."""
        limit = self.config.budget.max_dollars
        if limit is None or self.state.spent is None:
            return None
        return max(limit - self.state.spent - (self._pending or 0.0), 0.0)

    def pay(self, dollars: float | None) -> None:
        """Count spending inside the running rung, so its next evaluation gets only what is left."""
        self._pending = None if self._pending is None or dollars is None else self._pending + dollars

    # --- strategies --------------------------------------------------------------------

    def examples(self) -> list[dict[str, str]]:
        return [{"input": c.question, "output": c.reference} for c in self.train if c.reference]

    def embedder(self) -> Embedder:
        """``retrieval.embedder``: ``hashing`` (instant, lexical), ``sentence-transformers:all-MiniLM-L6-v2``
        (packaged, offline) or ``PREFIX:MODEL`` served by a provider; used by few-shot selection and retrieval."""
        if self._embedder is None:
            spec = self.config.retrieval.embedder
            if spec == "hashing" or spec.startswith("hashing-"):
                from tunewise.testing import HashingEmbedder

                size = spec.removeprefix("hashing").lstrip("-")
                if size and not size.isdigit():
                    raise ConfigError(
                        f"{self.config.path}: retrieval.embedder: write hashing or hashing-N, got {spec!r}"
                    )
                self._embedder = HashingEmbedder(int(size) if size else 64)
            elif spec.partition(":")[0] in self._providers:
                prefix, _, name = spec.partition(":")
                self._embedder = self._providers[prefix].embedder(name)
            else:
                from tunewise.retrieval import resolve_embedder

                try:
                    self._embedder = resolve_embedder(spec, registry=self._registry)
                except ConfigError as exc:
                    raise ConfigError(f"{self.config.path}: retrieval.embedder: {exc}") from None
        return self._embedder

    def prompt_strategy(self, name: str, system: str | None) -> Strategy:
        """The prompt rung's strategy: few-shot examples when that rung is on the ladder, plus ``system``."""
        from tunewise.strategies import FewShot, SystemPrompt, ZeroShot

        base = self.model(self.config.models.base)
        if "few_shot" in self.config.rungs and self.examples():
            return FewShot(
                base,
                self.examples(),
                k=self.config.few_shot.k,
                embedder=self.embedder(),
                diversity=self.config.few_shot.diversity,
                system=system,
                name=name,
                **self.config.options,
            )
        if system:
            return SystemPrompt(base, system, name=name, **self.config.options)
        return ZeroShot(base, name=name, **self.config.options)

    async def retriever(self) -> Retriever:
        if self._retriever is None:
            from tunewise.ladder._knowledge import build_retriever

            self._retriever = await build_retriever(self.config, self._registry, self.embedder())
        return self._retriever

    # --- evaluation --------------------------------------------------------------------

    async def evaluate(
        self, strategy: Strategy, cases: Sequence[Case], run_id: str, *, report_metrics: bool = True
    ) -> list[CaseResult]:
        """Run one strategy on ``cases`` under ``run_id`` (resuming it) and return its stored results.

        Test runs score the target and the report's metrics; dev runs (``report_metrics=False``) the target only.
        """
        from tunewise.evaluation._runner import evaluate

        budget = self.budget_left()
        summary = await evaluate(
            [strategy],
            cases,
            [self.metric, *(self.report_metrics if report_metrics else [])],
            store=self.store,
            run_id=run_id,
            concurrency=self.config.concurrency,
            timeout=self.config.timeout,
            cost=self.cost,
            budget=budget if budget is not None and budget > 0 else None,
            progress=self.progress,
            config={"ladder": self.state.fingerprint},
        )
        self.pay(summary.cost)
        results = self.store.results(run_id, strategy.name)
        split = "test" if report_metrics else "dev"
        failure = failure_of(results, len(cases), stopped=summary.stopped, split=split)
        if failure is not None:
            raise RungFailed(failure)
        return results

    def spend_of(self, results: Sequence[CaseResult]) -> tuple[float | None, int]:
        dollars: float | None = 0.0
        tokens = 0
        for r in results:
            if r.status != "ok":
                continue
            paid = None if r.cost is None or r.scoring_cost is None else r.cost + r.scoring_cost
            dollars = None if dollars is None or paid is None else dollars + paid
            tokens += (r.usage.prompt_tokens or 0) + (r.usage.completion_tokens or 0)
        return dollars, tokens

    def score(self, results: Sequence[CaseResult]) -> list[float]:
        """The target metric per test case (see :func:`metric_values`)."""
        return metric_values(results, self.metric.name)

    def breakdown(
        self, results: Sequence[CaseResult]
    ) -> tuple[dict[str, MetricSummary], str | None, dict[str, GroupResult]]:
        """The report's other metrics on all ``results``, and every metric per group of ``report.group_by``."""
        confidence = self.config.target.confidence
        others = {m.name: s for m in self.report_metrics if (s := summarize(results, m.name, confidence)) is not None}
        group_by = self.config.report.group_by
        groups: dict[str, GroupResult] = {}
        if group_by is not None:
            from tunewise.evaluation._groups import split_by_group

            names = [self.metric.name, *(m.name for m in self.report_metrics)]
            for group, members in split_by_group(results, group_by).items():
                scored = {n: s for n in names if (s := summarize(members, n, confidence)) is not None}
                groups[group] = GroupResult(n=len(members), metrics=scored)
        return others, group_by, groups

    def regroup(self) -> None:
        """Finished rungs split by another ``report.group_by`` than now: split their stored answers again."""
        changed = False
        for rung, result in list(self.state.results.items()):
            if result.group_by != self.config.report.group_by:
                # A rung that reused another's answers (optimized_prompt) names that run, whose one strategy
                # has another name: every ladder run holds one strategy, so the run's results are the rung's.
                answers = self.store.results(result.run_id, result.strategy) or self.store.results(result.run_id)
                _, group_by, groups = self.breakdown(answers)
                self.state.results[rung] = result.model_copy(update={"group_by": group_by, "groups": groups})
                how = f"split by {group_by}" if group_by else "no longer split"
                self.event(f"{rung}: {how}, from the stored answers (no model call)")
                changed = True
        if changed:
            self.save()

    def measure(
        self,
        rung: RungKind,
        strategy: Strategy,
        model: str,
        results: Sequence[CaseResult],
        *,
        extra_dollars: float | None = 0.0,
        extra_tokens: int = 0,
        training_cost: float | None = None,
        system: str | None = None,
        notes: Sequence[str] = (),
    ) -> RungResult:
        from tunewise.evaluation._stats import mean_ci

        scores = self.score(results)
        if not results:
            raise ConfigError(f"rung {rung}: no results on the test split")
        if not scores:
            raise ConfigError(f"rung {rung}: no test case has a {self.metric.name} score (the metric applies to none)")
        mean, low, high = mean_ci(scores, confidence=self.config.target.confidence)
        ok = [r for r in results if r.status == "ok"]
        costs = [r.cost for r in ok]
        compute = [r.usage.compute_s for r in ok]
        devices = {r.usage.compute_device for r in ok}
        latencies = sorted(r.latency_s for r in ok if r.latency_s is not None)
        prompt = [r.usage.prompt_tokens for r in ok]
        completion = [r.usage.completion_tokens for r in ok]
        dollars, tokens = self.spend_of(results)
        spent = None if dollars is None or extra_dollars is None else dollars + extra_dollars
        errors = len(results) - len(ok)
        all_notes = list(notes)
        if errors:
            all_notes.append(f"{errors} of {len(results)} test cases failed with errors and count as 0")
        if len(scores) < len(results):
            all_notes.append(
                f"{self.metric.name} does not apply to {len(results) - len(scores)} of {len(results)} test cases "
                "(left out of its mean)"
            )
        others, group_by, groups = self.breakdown(results)
        from tunewise.evaluation._failures import error_causes

        return RungResult(
            rung=rung,
            strategy=strategy.name,
            run_id=results[0].run_id,
            model=model,
            status="passed" if low >= self.config.target.threshold else "below_target",
            n=len(scores),
            errors=errors,
            mean=mean,
            ci_low=low,
            ci_high=high,
            confidence=self.config.target.confidence,
            cost_per_request=(
                sum(c for c in costs if c is not None) / len(costs)
                if ok and all(c is not None for c in costs)
                else None
            ),
            prompt_tokens=sum(p or 0 for p in prompt) / len(ok) if ok and None not in prompt else None,
            completion_tokens=sum(c or 0 for c in completion) / len(ok) if ok and None not in completion else None,
            compute_s=sum(c or 0.0 for c in compute) / len(ok) if ok and None not in compute else None,
            compute_device=devices.pop() if len(devices) == 1 else None,
            latency_mean_s=sum(latencies) / len(latencies) if latencies else None,
            latency_p95_s=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else None,
            spent=spent,
            tokens=tokens + extra_tokens,
            training_cost=training_cost,
            system_prompt=system,
            notes=all_notes,
            metrics=others,
            group_by=group_by,
            groups=groups,
            causes=error_causes(results),
        )

    # --- estimates ---------------------------------------------------------------------

    def _completion_tokens(self) -> float:
        measured = [r.completion_tokens for r in self.state.results.values() if r.completion_tokens is not None]
        if measured:
            return max(measured)
        refs = [estimate_tokens(c.reference or "") for c in self.test]
        return max(sum(refs) / len(refs), 16.0)

    def _price(self, ref: str, prompt: float, completion: float, calls: float) -> float | None:
        from tunewise.costs import MeanUsage, cost_of, quote

        found = quote(ref)
        if found is None:
            return None
        usage = MeanUsage(prompt_tokens=prompt, completion_tokens=completion)
        if found.rates is None:  # priced by compute time: seconds from what this ladder measured so far
            per_token, device = self._seconds_per_token()
            usage = usage.model_copy(update={"compute_s": (prompt + completion) * per_token, "compute_device": device})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            each = cost_of(ref, usage)
        return None if each is None else each * calls

    def _seconds_per_token(self) -> tuple[float, str | None]:
        """Local compute seconds per prompt+completion token measured by the finished rungs, and their device;
        :data:`ASSUMED_S_PER_TOKEN` before any was measured."""
        seconds = tokens = 0.0
        device: str | None = None
        for r in self.state.results.values():
            if r.compute_s is not None and r.prompt_tokens is not None and r.completion_tokens is not None:
                seconds += r.compute_s
                tokens += r.prompt_tokens + r.completion_tokens
                device = device or r.compute_device
        return (seconds / tokens if tokens > 0 else ASSUMED_S_PER_TOKEN), device

    def _prompt_tokens(self, cases: Sequence[Case], system: str | None, examples: int) -> float:
        example_tokens = 0.0
        if examples:
            pairs = self.examples()
            per = sum(estimate_tokens(e["input"]) + estimate_tokens(e["output"]) + 8 for e in pairs) / max(
                len(pairs), 1
            )
            example_tokens = per * min(examples, len(pairs))
        system_tokens = estimate_tokens(system) + 4 if system else 0.0
        return sum(conversation_tokens(c.input) for c in cases) / len(cases) + example_tokens + system_tokens

    def estimate(self, rung: RungKind) -> Estimate:
        """The rung's expected cost: its test evaluation, plus dev scoring and writing, or training."""
        config = self.config
        k = config.few_shot.k if "few_shot" in config.rungs and rung in PROMPT_RUNGS and rung != "zero_shot" else 0
        system = self.system if rung != "zero_shot" else None
        completion = self._completion_tokens()
        n = len(self.test)
        parts: list[tuple[str, float, float, float]] = []  # (model, prompt, completion, calls)
        if rung in PROMPT_RUNGS:
            parts.append((config.models.base, self._prompt_tokens(self.test, system, k), completion, n))
        if rung == "optimized_prompt":
            opt = config.optimizer
            per_dev = self._prompt_tokens(self.dev, (system or DEFAULT_INSTRUCTION) + " " * 800, k)
            dev_calls = len(self.dev) * (1 + opt.candidates * opt.rounds)
            parts.append((config.models.base, per_dev, completion, dev_calls))
            writer_prompt_tokens = 400 + opt.failures * (completion * 2 + 60) + opt.candidates * 200
            parts.append((config.optimizer_model, writer_prompt_tokens, opt.candidates * 200.0, opt.rounds))
        training = 0.0
        training_dollars: float | None = 0.0
        if rung == "fine_tune":
            ft = self._finetuned_price_ref()
            parts.append((ft, self._prompt_tokens(self.test, None, 0), completion, n))
            if self.state.fine_tune is None:
                training = self.training_tokens() * self.epochs()
                training_dollars = self.training_price(training)
        if rung in ("rag", "rag_fine_tuned"):
            model = config.models.base if rung == "rag" else self._finetuned_price_ref()
            context = config.retrieval.k * 200.0
            parts.append((model, self._prompt_tokens(self.test, None, 0) + context, completion, n))
        dollars: float | None = training_dollars
        tokens = training
        for ref, prompt, out, calls in parts:
            price = self._price(ref, prompt, out, calls)
            dollars = None if dollars is None or price is None else dollars + price
            tokens += (prompt + out) * calls
        return Estimate(dollars=dollars, tokens=int(tokens))

    def _finetuned_price_ref(self) -> str:
        if self.state.fine_tune is not None and self.state.fine_tune.model:
            return self.state.fine_tune.model
        ref = ModelRef.parse(self.config.fine_tune_base)
        return f"{ref.prefix}:ft:{ref.name}"

    def training_rows(self) -> list[dict[str, Any]]:
        rows = []
        for case in self.train:
            if not case.reference:
                continue
            messages = [m.model_dump(mode="json", exclude_none=True) for m in case.input]
            if self.system and not any(m.role == "system" for m in case.input):
                messages.insert(0, {"role": "system", "content": self.system})
            messages.append({"role": "assistant", "content": case.reference})
            rows.append({"messages": messages})
        return rows

    def training_data(self) -> DataReport:
        """The training file checked and counted by the data toolkit: billed tokens per epoch and the epochs.

        OpenAI models are counted with their own encoding; other models with ``o200k_base``
        (an estimate). A training set with format errors is refused before any job starts.
        """
        if self._training is None:
            from tunewise.data import analyze, encoding_for_model

            ref = ModelRef.parse(self.config.fine_tune_base)
            model: str | None = None
            if ref.prefix == "openai":
                try:
                    encoding_for_model(ref.name)
                    model = ref.name
                except ConfigError:
                    model = None
            report = analyze(self.training_rows(), model=model, epochs=self.config.fine_tune.epochs)
            if not report.ok:
                first = report.errors[0] if report.errors else None
                where = f"example {first.line}: " if first is not None and first.line else ""
                detail = f"{where}{first.message}" if first is not None else "format errors"
                raise DataError(f"the training split cannot be used for fine-tuning: {detail}", path=self.train_path)
            self._training = report
        return self._training

    def training_tokens(self) -> int:
        """One pass over the training data (what the provider bills per epoch), counted by the data toolkit."""
        return self.training_data().billed_tokens_per_epoch

    def epochs(self) -> int:
        return self.config.fine_tune.epochs or self.training_data().epochs

    def training_price(self, billed_tokens: float, record: FineTuneRecord | None = None) -> float | None:
        """Dollars to train on ``billed_tokens`` (tokens x epochs): per token, or for a local model its
        measured training time (``record``) x the hourly rate, estimated before the job has run."""
        from tunewise.costs import compute_cost, quote, training_cost

        found = quote(self.config.fine_tune_base)
        if found is None:
            return None
        if found.entry.by_compute:
            measured = record is not None and record.compute_s is not None
            device = record.compute_device if record is not None and measured else self._seconds_per_token()[1]
            rate = found.entry.compute_rate(device)
            if rate is None:
                return None
            seconds = record.compute_s if record is not None and record.compute_s is not None else None
            return compute_cost(seconds if seconds is not None else billed_tokens * ASSUMED_TRAIN_S_PER_TOKEN, rate[1])
        if found.entry.finetune_training is None:
            return None
        return training_cost(billed_tokens, 1, found.entry.finetune_training)

    def check_budget(self, rung: RungKind, estimate: Estimate) -> str | None:
        """Why ``rung`` must not start, or ``None`` when it fits the budget."""
        budget = self.config.budget
        if budget.max_dollars is not None:
            if self.state.spent is None:
                unknown = ", ".join(self.state.unknown_prices)
                return f"the dollar budget cannot be kept: an earlier cost is unknown ({unknown})"
            if estimate.dollars is None:
                return (
                    f"the cost of {rung} is unknown (no price for its model), "
                    f"so the ${budget.max_dollars:g} budget cannot be kept"
                )
            if self.state.spent + estimate.dollars > budget.max_dollars:
                return (
                    f"{rung} is estimated at ${estimate.dollars:.4g}; with ${self.state.spent:.4g} spent "
                    f"it would exceed the ${budget.max_dollars:g} budget"
                )
        if budget.max_tokens is not None and self.state.tokens + estimate.tokens > budget.max_tokens:
            return (
                f"{rung} is estimated at {estimate.tokens:,} tokens; with {self.state.tokens:,} used "
                f"it would exceed the {budget.max_tokens:,}-token budget"
            )
        return None

    # --- rungs -------------------------------------------------------------------------

    async def run(self) -> LadderOutcome:
        self.preflight()  # before anything is written: a typo in a model reference leaves no folder behind
        self.config.out.mkdir(parents=True, exist_ok=True)
        (self.config.out / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2), encoding="utf-8")
        self.state.stopped = None
        self.state.failure = None
        self.save()
        try:
            self.regroup()
            for index, rung in enumerate(self.config.rungs):
                if rung in self.state.results:
                    self.event(f"{rung}: done earlier (mean {self.state.results[rung].mean:.3f})")
                    if self.state.results[rung].status == "passed" and self.config.stop_at_target:
                        self._skip_rest(index, f"the target was reached at {rung}")
                        break
                    continue
                if rung == "rag_fine_tuned" and "fine_tune" not in self.state.results:
                    self.state.skipped[rung] = "the fine-tune rung did not produce a model"
                    continue
                estimate = self.estimate(rung)
                why = self.check_budget(rung, estimate)
                if why is not None:
                    self.state.stopped = f"budget: {why}"
                    self._skip_rest(index - 1, why)
                    self.event(f"stopped: {why}")
                    break
                self.state.skipped.pop(rung, None)
                self._pending = 0.0
                self.event(f"{rung}: starting (estimated {_dollars(estimate.dollars)}, {estimate.tokens:,} tokens)")
                try:
                    result = await self.run_rung(rung)
                except BudgetExceededError as exc:
                    self.state.stopped = f"budget: {exc}"
                    self._skip_rest(index - 1, "the budget ran out during this rung")
                    self.event(f"stopped: {exc}")
                    break
                except RungFailed as exc:
                    failure = exc.failure.model_copy(update={"rung": rung})
                    self.state.failure = failure
                    self.state.stopped = f"failed: {failure.summary()}"
                    self._skip_rest(index, f"the ladder stopped when {rung} failed")
                    self.event(f"stopped: {failure.summary()}")
                    break
                except FineTuneError as exc:
                    self.state.skipped[rung] = f"the fine-tune failed: {exc}"
                    self.event(f"{rung}: fine-tune failed: {exc}")
                    self.save()
                    continue
                self.state.results[rung] = result
                self.state.add_spend(result.spent, result.tokens)
                self.save()
                self.event(
                    f"{rung}: {self.metric.name} {result.mean:.3f} "
                    f"({result.confidence:.0%} CI {result.ci_low:.3f}..{result.ci_high:.3f}) -> {result.status}"
                )
                if result.status == "passed" and self.config.stop_at_target:
                    self._skip_rest(index, f"the target was reached at {rung}")
                    break
            else:
                if not any(r.status == "passed" for r in self.state.results.values()):
                    self.state.stopped = "no rung reached the target"
            self.save()
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None
        return LadderOutcome(config=self.config, state=self.state)

    def preflight(self) -> None:
        """Fail in one line, before any rung runs, when a rung still to run names a provider that cannot serve it
        (no such plugin, no API key): every one of its calls would fail alike."""
        todo = [r for r in self.config.rungs if r not in self.state.results]
        refs: dict[str, str] = {}
        if any(r in (*PROMPT_RUNGS, "rag") for r in todo):
            refs["models.base"] = self.config.models.base
        if "optimized_prompt" in todo:
            refs["models.optimizer"] = self.config.optimizer_model
        if any(r in FINE_TUNE_RUNGS for r in todo):
            refs["models.fine_tune_base"] = self.config.fine_tune_base
        for field, ref in refs.items():
            try:
                self.provider(ModelRef.parse(ref).prefix)
            except ConfigError as exc:
                raise type(exc)(f"{self.config.path}: {field} ({ref}): {exc}") from None

    def _skip_rest(self, index: int, why: str) -> None:
        for rung in self.config.rungs[index + 1 :]:
            if rung not in self.state.results:
                self.state.skipped[rung] = why
        self.save()

    async def run_rung(self, rung: RungKind) -> RungResult:
        if rung == "zero_shot":
            strategy = self.prompt_strategy_zero()
            results = await self.evaluate(strategy, self.test, "ladder-zero_shot")
            return self.measure(rung, strategy, self.config.models.base, results)
        if rung == "few_shot":
            strategy = self.prompt_strategy("few_shot", self.system)
            results = await self.evaluate(strategy, self.test, "ladder-few_shot")
            return self.measure(rung, strategy, self.config.models.base, results, system=self.system)
        if rung == "optimized_prompt":
            return await self.optimized_prompt()
        if rung == "rag":
            return await self.rag()
        if rung == "fine_tune":
            return await self.fine_tune()
        return await self.rag_fine_tuned()

    def prompt_strategy_zero(self) -> Strategy:
        from tunewise.strategies import ZeroShot

        return ZeroShot(self.model(self.config.models.base), name="zero_shot", **self.config.options)

    async def optimized_prompt(self) -> RungResult:
        """Score the starting instruction on dev, then rounds of written candidates; keep the best."""
        opt = self.config.optimizer
        seed = self.system or DEFAULT_INSTRUCTION
        if not self.state.candidates:
            self.state.candidates.append(Candidate(instruction=seed, round=0))
            self.save()
        dollars: float | None = 0.0
        tokens = 0
        notes: list[str] = []
        for round_no in range(opt.rounds + 1):
            for candidate in [c for c in self.state.candidates if c.round == round_no]:
                if candidate.dev_score is None:
                    run_id = "ladder-dev-" + hashlib.sha256(candidate.instruction.encode()).hexdigest()[:12]
                    results = await self.evaluate(
                        self.prompt_strategy("candidate", candidate.instruction), self.dev, run_id, report_metrics=False
                    )
                    candidate.run_id = run_id
                    dev_scores = self.score(results)
                    candidate.dev_score = sum(dev_scores) / len(dev_scores) if dev_scores else 0.0
                    self.save()
                    self.event(f"optimized_prompt: round {round_no} candidate scored {candidate.dev_score:.3f} on dev")
            if round_no == opt.rounds:
                break
            if any(c.round == round_no + 1 for c in self.state.candidates):
                continue  # written before a restart: score them, do not write new ones
            best = self._best_candidate()
            assert best.run_id is not None
            failures = self._failures(best.run_id)
            if not failures:
                notes.append(f"round {round_no + 1}: no dev failures left to learn from")
                break
            tried = [(c.instruction, c.dev_score or 0.0) for c in self.state.candidates]
            system, user = writer_prompt(tried, failures, n=opt.candidates, metric=self.metric.name)
            writer = self.model(self.config.optimizer_model)
            response = await writer.chat([Message.system(system), Message.user(user)], temperature=opt.temperature)
            paid = self.cost(str(writer.ref), response.usage)
            self.pay(paid)
            dollars = None if dollars is None or paid is None else dollars + paid
            tokens += (response.usage.prompt_tokens or 0) + (response.usage.completion_tokens or 0)
            written = parse_candidates(
                response.text, n=opt.candidates, seen=[c.instruction for c in self.state.candidates]
            )
            if not written:
                notes.append(f"round {round_no + 1}: the optimizer wrote no usable instruction")
            self.state.candidates.extend(Candidate(instruction=w, round=round_no + 1) for w in written)
            self.save()
        for candidate in self.state.candidates:
            if candidate.run_id is not None:
                spent, used = self.spend_of(self.store.results(candidate.run_id))
                dollars = None if dollars is None or spent is None else dollars + spent
                tokens += used
        best = self._best_candidate()
        notes.insert(
            0,
            f"best of {len(self.state.candidates)} instructions on the dev split "
            f"({self.metric.name} {best.dev_score:.3f}; "
            f"the starting one scored {self.state.candidates[0].dev_score:.3f})",
        )
        strategy = self.prompt_strategy("optimized_prompt", best.instruction)
        few = self.state.results.get("few_shot")
        if few is not None and self.system is not None and best.instruction == self.system:
            # The search kept the starting instruction: the prompt is few_shot's, so are its test answers.
            notes.append("the starting instruction won: the test answers are few_shot's (the same prompt), reused")
            results = self.store.results(few.run_id, few.strategy)
            measured = self.measure(
                "optimized_prompt", strategy, self.config.models.base, results, system=best.instruction, notes=notes
            )
            return measured.model_copy(update={"spent": dollars, "tokens": tokens})
        results = await self.evaluate(strategy, self.test, "ladder-optimized_prompt-" + _short(best.instruction))
        return self.measure(
            "optimized_prompt",
            strategy,
            self.config.models.base,
            results,
            extra_dollars=dollars,
            extra_tokens=tokens,
            system=best.instruction,
            notes=notes,
        )

    def _best_candidate(self) -> Candidate:
        scored = [c for c in self.state.candidates if c.dev_score is not None]
        return max(scored, key=lambda c: (c.dev_score or 0.0, -c.round, -len(c.instruction)))

    def _failures(self, run_id: str) -> list[Failure]:
        threshold = self.config.target.threshold
        name = self.metric.name
        results = [r for r in self.store.results(run_id) if not r.not_applicable(name)]
        failing = [r for r in results if r.status != "ok" or r.scores.get(name, 0.0) < max(threshold, 1e-9)]
        if not failing:
            failing = [r for r in results if r.scores.get(name, 0.0) < 1.0]
        failing.sort(key=lambda r: r.scores.get(name, 0.0))
        out = []
        for r in failing[: self.config.optimizer.failures]:
            from tunewise.evaluation._cases import Case

            case = Case.model_validate(r.case)
            out.append(
                Failure(
                    question=case.question,
                    expected=case.reference or "",
                    got=r.response if r.status == "ok" and r.response is not None else f"(error: {r.error})",
                    score=r.scores.get(name, 0.0),
                )
            )
        return out

    async def fine_tune(self) -> RungResult:
        """Start (or re-attach to) the fine-tune job, wait for it, then evaluate the trained model."""
        from tunewise.interfaces.finetune import FineTuneSpec
        from tunewise.strategies import FineTuned

        config = self.config
        base = ModelRef.parse(config.fine_tune_base)
        tuner = self.provider(base.prefix).fine_tuner()
        record = self.state.fine_tune
        if record is None or record.status in ("failed", "cancelled"):
            previous = [*record.previous_jobs, record.job_id] if record is not None else []
            rows = self.training_rows()
            if not rows:
                raise DataError("no training example has a reference answer", path=self.train_path)
            file = config.out / "fine_tune_train.jsonl"
            file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            spec = FineTuneSpec(
                base_model=str(base).split(":", 1)[1],
                training_file=file,
                n_epochs=config.fine_tune.epochs,
                batch_size=config.fine_tune.batch_size,
                learning_rate_multiplier=config.fine_tune.learning_rate_multiplier,
                learning_rate=config.fine_tune.learning_rate,
                seed=config.fine_tune.seed,
                suffix=config.fine_tune.suffix,
                options=dict(config.fine_tune.options),
            )
            job = await tuner.start(spec)
            record = FineTuneRecord(
                job_id=job.id,
                base_model=str(base),
                training_file=str(file),
                training_tokens=self.training_tokens(),
                epochs=self.epochs(),
                previous_jobs=previous,
            )
            self.state.fine_tune = record
            self.save()
            self.event(f"fine_tune: started job {job.id} on {base}")
        else:
            job = await tuner.attach(record.job_id)
            self.event(f"fine_tune: re-attached to job {record.job_id} ({job.status})")
        if record.model is None:
            try:
                trained = await job.wait(poll_interval=config.fine_tune.poll_interval, timeout=config.fine_tune.timeout)
            except (TimeoutError, FineTuneError) as exc:
                status = job.status
                if status in ("failed", "cancelled"):
                    record.status = status
                    self.save()
                    raise FineTuneError(
                        f"job {record.job_id} {status}: {job.error or exc}; run the ladder again to start a new job"
                    ) from None
                raise FineTuneError(
                    f"job {record.job_id} still {status} after waiting; run the ladder again to keep waiting"
                ) from None
            record.model = str(trained)
            record.status = "succeeded"
            metrics = getattr(job, "metrics", None)  # a local job reports its training time on this machine
            if isinstance(metrics, dict) and isinstance(metrics.get("compute_s"), int | float):
                record.compute_s = float(metrics["compute_s"])
                device = metrics.get("compute_device")
                record.compute_device = device if isinstance(device, str) else None
            self.save()
            self.event(f"fine_tune: job {record.job_id} succeeded: {record.model}")
        training = self.training_price(record.training_tokens * record.epochs, record)
        self.pay(training)
        strategy = FineTuned(self.model(record.model), name="fine_tune", **self.config.options)
        results = await self.evaluate(strategy, self.test, "ladder-fine_tune")
        notes = [
            f"job {record.job_id}: {record.training_tokens:,} billed training tokens per epoch x {record.epochs} epochs"
        ]
        if training is None:
            notes.append(f"no training price known for {config.fine_tune_base}: training cost unknown")
        return self.measure(
            "fine_tune",
            strategy,
            record.model,
            results,
            extra_dollars=training,
            extra_tokens=record.training_tokens * record.epochs,
            training_cost=training,
            notes=notes,
        )

    async def retrieval_strategy(self, rung: RungKind, model: str) -> Strategy:
        """Retrieval feeding ``model``, with the config's relevance rule: the same for ``rag`` (the base
        model) and ``rag_fine_tuned`` (the fine-tune), so the two differ only in the model."""
        from tunewise.strategies import RagFineTuned

        retrieval = self.config.retrieval
        return RagFineTuned(
            self.model(model),
            await self.retriever(),
            threshold=retrieval.threshold,
            threshold_on=retrieval.threshold_on,
            on_low_relevance=retrieval.on_low_relevance,
            k=retrieval.k,
            name=rung,
            **self.config.options,
        )

    async def rag(self) -> RungResult:
        """The base model answering from retrieved knowledge-base passages: what retrieval alone brings."""
        model = self.config.models.base
        strategy = await self.retrieval_strategy("rag", model)
        results = await self.evaluate(strategy, self.test, "ladder-rag")
        return self.measure("rag", strategy, model, results)

    async def rag_fine_tuned(self) -> RungResult:
        record = self.state.fine_tune
        assert record is not None and record.model is not None
        strategy = await self.retrieval_strategy("rag_fine_tuned", record.model)
        results = await self.evaluate(strategy, self.test, "ladder-rag_fine_tuned")
        return self.measure(
            "rag_fine_tuned",
            strategy,
            record.model,
            results,
            training_cost=self.state.results["fine_tune"].training_cost if "fine_tune" in self.state.results else None,
        )


def metric_values(results: Sequence[CaseResult], name: str) -> list[float]:
    """``name``'s score per case, never optimistic: a case that failed with an error, or whose scoring
    failed, counts as 0; a case the metric does not apply to is left out."""
    return [r.scores.get(name, 0.0) if r.status == "ok" else 0.0 for r in results if not r.not_applicable(name)]


def summarize(results: Sequence[CaseResult], name: str, confidence: float) -> MetricSummary | None:
    """``name`` over ``results``: n, mean and bootstrap interval; ``None`` when it applies to none of them."""
    from tunewise.evaluation._stats import mean_ci

    values = metric_values(results, name)
    if not values:
        return None
    mean, low, high = mean_ci(values, confidence=confidence)
    return MetricSummary(n=len(values), mean=mean, ci_low=low, ci_high=high)


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
) -> LadderOutcome:
    """Climb the ladder described by ``config`` (a TOML path or a parsed config); resumes from its output folder.

    ``providers`` maps model-reference prefixes to provider objects to use instead of
    plugins (a :class:`~tunewise.testing.ScriptedProvider` in tests, your own provider).
    With ``report``, ``report.md`` and ``report.html`` are written to the output folder.
    """
    parsed = config if isinstance(config, LadderConfig) else load_ladder_config(config, model=model, out=out)
    started = time.perf_counter()
    ladder = Ladder(parsed, registry=registry, providers=providers, progress=progress, on_event=on_event)
    try:
        outcome = await ladder.run()
    except ProviderError:
        ladder.save()
        raise
    finally:
        if registry is None and ladder._registry is not None:
            with anyio.CancelScope(shield=True):
                await ladder._registry.aclose()
    if report:
        from tunewise.ladder._report import write_report

        write_report(parsed.out)
    ladder.event(f"ladder finished in {time.perf_counter() - started:.1f}s")
    return outcome

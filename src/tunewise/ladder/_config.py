"""The ladder's TOML config: what to climb, on which data, to what target, within what budget.

```toml
rungs = ["zero_shot", "few_shot", "optimized_prompt", "rag", "fine_tune", "rag_fine_tuned"]
requests_per_month = 100000     # your volume: monthly cost and break-even are projected at it

[dataset]                       # paths are relative to this file
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"

[target]
metric = "token_f1"             # any evaluation metric: a name or a {type = ...} table
threshold = 0.6                 # stop at the first rung whose lower confidence bound reaches it
confidence = 0.95

[report]
metrics = ["must_contain"]      # more metrics scored on every test answer, shown beside the target
group_by = "kind"               # every rung's scores per metadata.kind too

[budget]
max_dollars = 5.0
max_tokens = 2_000_000

[models]
base = "openai:gpt-4o-mini"
fine_tune_base = "openai:gpt-4o-mini-2024-07-18"   # default: base
optimizer = "openai:gpt-4o-mini"                    # writes candidate instructions; default: base
```

Every problem is a one-line [`ConfigError`][tunewise.ConfigError] naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from tunewise._config_error import first_problem, read_toml
from tunewise._errors import ConfigError
from tunewise._refs import ModelRef
from tunewise.evaluation import as_metric
from tunewise.ladder._curve import DEFAULT_FRACTIONS
from tunewise.strategies import REQUEST_OPTIONS
from tunewise.strategies._call import ModelCaller

RungKind = Literal["zero_shot", "few_shot", "optimized_prompt", "rag", "fine_tune", "rag_fine_tuned"]
RUNG_ORDER: tuple[RungKind, ...] = ("zero_shot", "few_shot", "optimized_prompt", "rag", "fine_tune", "rag_fine_tuned")
"""Cheap to expensive; also the default ``rungs``. ``rag`` is the base model with retrieval: beside
``rag_fine_tuned`` it shows what retrieval brings and what fine-tuning adds."""
"""Cheapest to most expensive: the order the ladder climbs."""


class _Section(BaseModel):
    # TOML reads inf and nan: no budget, price or threshold of the ladder may be one.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DatasetConfig(_Section):
    """Train, dev and test files (JSONL or CSV cases; train in chat format for fine-tuning), or one file to split.

    With ``file``, the data toolkit (``tunewise.data.split``) splits it deterministically by
    ``seed`` into ``<out>/splits/{train,dev,test}.jsonl`` with the ``split`` ratios.
    """

    train: Path | None = None
    dev: Path | None = None
    test: Path | None = None
    file: Path | None = None
    split: dict[str, float] = Field(default_factory=lambda: {"train": 0.7, "dev": 0.1, "test": 0.2})
    seed: int = 0

    @model_validator(mode="after")
    def _one_form(self) -> DatasetConfig:
        given = [name for name in ("train", "dev", "test") if getattr(self, name) is not None]
        if self.file is not None:
            if given:
                raise ValueError(
                    f"give file (split by the ladder) or train, dev and test, not both ({', '.join(given)})"
                )
            if set(self.split) != {"train", "dev", "test"} or any(v <= 0 for v in self.split.values()):
                raise ValueError("split needs positive train, dev and test fractions")
            if abs(sum(self.split.values()) - 1) > 1e-6:
                raise ValueError(f"split fractions must add up to 1, got {sum(self.split.values()):g}")
        elif len(given) != 3:
            missing = sorted({"train", "dev", "test"} - set(given))
            raise ValueError(f"needs train, dev and test (missing: {', '.join(missing)}), or one file to split")
        return self

    def paths(self, out: Path) -> tuple[Path, Path, Path]:
        """(train, dev, test): the files given, or where the split of ``file`` is written."""
        if self.file is None:
            assert self.train is not None and self.dev is not None and self.test is not None
            return self.train, self.dev, self.test
        folder = out / "splits"
        return folder / "train.jsonl", folder / "dev.jsonl", folder / "test.jsonl"


class TargetConfig(_Section):
    """What "good enough" means: a metric, a threshold on its mean, and the confidence of the bound."""

    metric: str | dict[str, Any] = "token_f1"
    threshold: float = Field(ge=0, le=1)
    """Every metric scores in [0, 1], so a target outside it could never be reached (or always is)."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1)


class ReportConfig(_Section):
    """What the report shows besides the target: more metrics, and every score per group of cases."""

    metrics: tuple[str | dict[str, Any], ...] = ()
    """Metrics scored on every test answer beside the target (the stop rule uses only the target).
    Deterministic ones (``must_contain``, ``exact_match``...) add no model call; a judge adds its calls."""
    group_by: str | None = Field(default=None, min_length=1)
    """A case metadata key (``kind``): each rung's scores per group of test cases. Changing it
    re-groups the stored answers on the next run, without a model call."""


class BudgetConfig(_Section):
    """The most the whole ladder may spend; the next rung is estimated first and skipped if it would not fit."""

    max_dollars: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)


class ModelsConfig(_Section):
    """Model references: the one prompted, the one fine-tuned, the one writing instructions, the judge."""

    base: str
    fine_tune_base: str | None = None
    optimizer: str | None = None
    judge: str | None = None

    @field_validator("base", "fine_tune_base", "optimizer", "judge")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ModelRef.parse(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


class PromptConfig(_Section):
    """The starting system prompt (text or a file), used by the prompt rungs and in fine-tune training data."""

    system: str | None = None
    system_file: Path | None = None


class FewShotConfig(_Section):
    k: int = Field(default=4, ge=1, le=64)
    diversity: float = Field(default=0.3, ge=0, le=1)


class OptimizerConfig(_Section):
    """The instruction search: a few candidates per round, a couple of rounds, failures shown to the writer."""

    candidates: int = Field(default=4, ge=1, le=20)
    rounds: int = Field(default=2, ge=1, le=10)
    failures: int = Field(default=8, ge=1, le=50)
    """Dev-set failures shown to the optimizer model per round."""
    temperature: float = Field(default=0.9, ge=0, le=2)


class FineTuneConfig(_Section):
    epochs: int | None = Field(default=None, ge=1, le=50)
    """``None``: the provider chooses (OpenAI's rule by data size, which the estimate uses too)."""
    suffix: str = Field(default="ladder", max_length=64)
    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    """OpenAI's multiplier of its own learning rate."""
    learning_rate: float | None = Field(default=None, gt=0)
    """An absolute learning rate (local fine-tuning)."""
    seed: int | None = None
    batch_size: int | None = Field(default=None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)
    """Plugin-specific settings (LoRA rank, max steps...)."""
    poll_interval: float = Field(default=10.0, ge=0)
    timeout: float | None = Field(default=None, gt=0)
    """Seconds to wait for the job; ``None`` waits as long as it takes."""
    learning_curve: bool | tuple[float, ...] = False
    """Also train on nested fractions of the training set and fit a learning curve ("would more data
    pay?"): ``true`` for 0.25, 0.5 and 1.0, or 2-4 ascending fractions ending in 1.0 (the rung's own job)."""

    @field_validator("learning_curve")
    @classmethod
    def _fractions(cls, value: bool | tuple[float, ...]) -> bool | tuple[float, ...]:
        if isinstance(value, bool):
            return value
        if not 2 <= len(value) <= 4:
            raise ValueError(f"give 2 to 4 fractions of the training set (e.g. [0.25, 0.5, 1.0]), got {len(value)}")
        if any(not 0 < f <= 1 for f in value) or list(value) != sorted(set(value)):
            raise ValueError(f"fractions must be ascending, each in (0, 1], got {list(value)}")
        if value[-1] != 1:
            raise ValueError("the last fraction must be 1.0: the rung's own fine-tune on the whole training set")
        return value

    @property
    def curve_fractions(self) -> tuple[float, ...]:
        """The learning curve's fractions of the training set, ``()`` when it is off."""
        if self.learning_curve is True:
            return DEFAULT_FRACTIONS
        return self.learning_curve or ()


class RetrievalConfig(_Section):
    """The knowledge base the RAG rung retrieves from, and how."""

    knowledge_base: Path | None = None
    """A folder of ``.md``/``.txt`` files or a JSONL file of ``{"id", "text", "source"}`` documents."""
    retriever: Literal["memory", "hybrid", "dense", "bm25"] | dict[str, Any] = "memory"
    """``"memory"`` (exact cosine over the knowledge base); ``"hybrid"``, ``"dense"`` or ``"bm25"`` (a
    ``tunewise.retrieval`` index of it); or a ``{type = ..., ...}`` table of a registered retriever kind."""
    embedder: str = "hashing"
    k: int = Field(default=4, ge=1, le=50)
    threshold: float = 0.2
    """A hit is relevant when its score reaches this: the dense cosine for ``hybrid`` and ``dense``."""
    threshold_on: str | None = None
    """The retriever whose raw score ``threshold`` is compared with (default ``"dense"`` where hits have one,
    else the hit's score); see ``RagFineTuned``."""
    on_low_relevance: Literal["no_context", "handoff"] = "no_context"

    @field_validator("threshold_on")
    @classmethod
    def _threshold_on(cls, value: str | None, info: ValidationInfo) -> str | None:
        retriever = info.data.get("retriever")
        members = _MEMBERS.get(retriever) if isinstance(retriever, str) else None
        if value is not None and members is not None and value not in members:
            raise ValueError(f"{value!r} is not a retriever of {retriever!r}; use {' or '.join(members)}")
        return value


_MEMBERS: dict[str, tuple[str, ...]] = {
    "hybrid": ("dense", "bm25"),
    "dense": ("dense",),
    "bm25": ("bm25",),
    "memory": ("knowledge_base",),
}
"""The names each built-in ``retrieval.retriever`` gives its hits' ``scores``."""


class LadderConfig(_Section):
    """A parsed, checked ladder config; paths are absolute."""

    path: Path
    out: Path
    rungs: tuple[RungKind, ...] = RUNG_ORDER
    stop_at_target: bool = True
    """Stop at the first rung that reaches the target (the ladder's point: pay for no more than needed).
    ``false`` measures every rung to compare them all; the recommendation is still the cheapest that passed."""
    requests_per_month: float | None = Field(default=None, gt=0)
    concurrency: int = Field(default=8, ge=1)
    timeout: float | None = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0)
    """Deprecated and ignored: retries live in the provider (one budget per call, e.g. ``max_retries``)."""
    batch: bool = False
    """Measure each rung on the test split through the provider's batch API (OpenAI: half the price, within
    24 hours; see ``tunewise eval run --batch``). Dev-split runs (the prompt optimizer's rounds) stay live."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Request options sent with every answer of every rung (``temperature``, ``max_tokens``, ``seed``...)."""
    dataset: DatasetConfig
    target: TargetConfig
    report: ReportConfig = ReportConfig()
    budget: BudgetConfig = BudgetConfig()
    models: ModelsConfig
    prompt: PromptConfig = PromptConfig()
    few_shot: FewShotConfig = FewShotConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    fine_tune: FineTuneConfig = FineTuneConfig()
    retrieval: RetrievalConfig = RetrievalConfig()

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - REQUEST_OPTIONS)
        if unknown:
            raise ValueError(f"unknown request options {unknown}; allowed: {', '.join(sorted(REQUEST_OPTIONS))}")
        ModelCaller(ModelRef.parse("check:model"), None, value)  # a value no request could carry fails here
        return value

    @field_validator("rungs")
    @classmethod
    def _rungs(cls, value: tuple[RungKind, ...]) -> tuple[RungKind, ...]:
        if not value:
            raise ValueError("name at least one rung")
        if len(set(value)) != len(value):
            raise ValueError("a rung is listed twice")
        if list(value) != sorted(value, key=RUNG_ORDER.index):
            raise ValueError(f"rungs climb from cheap to expensive; keep this order: {', '.join(RUNG_ORDER)}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> LadderConfig:
        if "rag_fine_tuned" in self.rungs and "fine_tune" not in self.rungs:
            raise ValueError("rungs: rag_fine_tuned uses the fine_tune rung's model; list fine_tune too")
        if self.fine_tune.curve_fractions and "fine_tune" not in self.rungs:
            raise ValueError("fine_tune.learning_curve is measured by the fine_tune rung; add fine_tune to rungs")
        for rung in ("rag", "rag_fine_tuned"):
            if (
                rung in self.rungs
                and isinstance(self.retrieval.retriever, str)
                and self.retrieval.knowledge_base is None
            ):
                raise ValueError(f"retrieval.knowledge_base: the {rung} rung needs a knowledge base")
        if self.prompt.system is not None and self.prompt.system_file is not None:
            raise ValueError("prompt: give system or system_file, not both")
        return self

    @property
    def fine_tune_base(self) -> str:
        return self.models.fine_tune_base or self.models.base

    @property
    def optimizer_model(self) -> str:
        return self.models.optimizer or self.models.base

    @property
    def system_prompt(self) -> str | None:
        if self.prompt.system_file is not None:
            return self.prompt.system_file.read_text(encoding="utf-8").strip() or None
        return self.prompt.system

    def fingerprint(self) -> str:
        """What a resumed ladder must share with the one it resumes (everything but where it writes)."""
        data = self.model_dump(
            mode="json",
            exclude={
                "path": True,
                "out": True,
                "budget": True,
                "report": True,
                "stop_at_target": True,  # climbing on past the target reuses every answer so far
                "batch": True,  # batched or live, the answers are the same requests
                "fine_tune": {"poll_interval": True, "timeout": True, "learning_curve": True},
            },
        )
        if self.fine_tune.curve_fractions:  # off, it leaves the fingerprint of a ladder from before the option
            data["fine_tune"]["learning_curve"] = list(self.fine_tune.curve_fractions)
        if self.report.metrics:  # scored with the answers; group_by is not: re-grouping needs no new answer
            data["report_metrics"] = list(self.report.metrics)
        for name in ("train", "dev", "test", "file"):
            file = getattr(self.dataset, name)
            data["dataset"][name + "_sha"] = hashlib.sha256(file.read_bytes()).hexdigest() if file else None
        data["system_prompt"] = self.system_prompt
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def load_ladder_config(
    path: str | Path,
    *,
    model: str | None = None,
    out: str | Path | None = None,
    learning_curve: bool = False,
    batch: bool = False,
) -> LadderConfig:
    """Read and check a ladder TOML file.

    ``model`` replaces ``models.base`` and ``models.fine_tune_base`` (run the same ladder on
    ``openai:gpt-4o-mini``, ``ollama:llama3.2`` or ``local:/models/x``); ``out`` replaces
    the output folder (default: ``out`` in the file, else ``ladder-out`` beside it);
    ``learning_curve`` turns on ``fine_tune.learning_curve`` (its default fractions, unless the file gives some);
    ``batch`` turns on ``batch`` (test-split measurements through the provider's batch API).
    """
    file = Path(path)
    data = read_toml(file)
    if batch:
        data["batch"] = True
    base = file.parent.resolve()
    if not isinstance(data.get("dataset", {}), dict):
        raise ConfigError(f"{file}: dataset: must be a table with train, dev and test")
    for section, keys in (
        ("dataset", ("train", "dev", "test", "file")),
        ("prompt", ("system_file",)),
        ("retrieval", ("knowledge_base",)),
    ):
        table = data.get(section)
        if isinstance(table, dict):
            data[section] = {k: _relative_to(base, v) if k in keys else v for k, v in table.items()}
    if model is not None:
        _override_model(data, model)
    if learning_curve:
        tuning = data.get("fine_tune")
        tuning = dict(tuning) if isinstance(tuning, dict) else {}
        if tuning.get("learning_curve") in (None, False):
            tuning["learning_curve"] = True
        data["fine_tune"] = tuning
    _default_judges(data)
    data["out"] = Path(out).resolve() if out is not None else _relative_to(base, data.get("out", "ladder-out"))
    data["path"] = file.resolve()
    try:
        config = LadderConfig.model_validate(data)
    except ValidationError as exc:
        where, message, kind = first_problem(exc)
        message = {"extra_forbidden": "unknown key", "missing": "missing (required)"}.get(kind, message)
        raise ConfigError(f"{file}: {where or 'config'}: {message}") from None
    _check_files(config, file)
    _check_metric_names(config, file)
    kb = config.retrieval.knowledge_base
    if kb is not None and not kb.exists():
        raise ConfigError(f"{file}: retrieval.knowledge_base: no such file or folder {kb}")
    return config


def _relative_to(base: Path, value: Any) -> Any:
    """A path written in the file, relative to the file's folder (``~`` expanded); other values as they are."""
    if isinstance(value, str):
        p = Path(value).expanduser()
        return p if p.is_absolute() else base / p
    return value


def _override_model(data: dict[str, Any], model: str) -> None:
    """``--model``: one model for ``models.base`` and ``models.fine_tune_base``."""
    try:
        ModelRef.parse(model)
    except ConfigError as exc:
        raise ConfigError(f"--model: {exc}") from None
    models = dict(data.get("models") or {})
    models["base"] = model
    models["fine_tune_base"] = model
    data["models"] = models


def _default_judges(data: dict[str, Any]) -> None:
    """A judge metric table without a model gets ``models.judge`` (or ``models.base``)."""
    named: dict[str, Any] = data["models"] if isinstance(data.get("models"), dict) else {}

    def judged(metric: Any) -> Any:
        if isinstance(metric, dict) and metric.get("type") in ("judge", "llm_judge") and "model" not in metric:
            return {**metric, "model": named.get("judge") or named.get("base")}
        return metric

    target = data.get("target")
    if isinstance(target, dict) and isinstance(target.get("metric"), dict):
        data["target"] = {**target, "metric": judged(target["metric"])}
    report = data.get("report")
    if isinstance(report, dict) and isinstance(report.get("metrics"), list):
        data["report"] = {**report, "metrics": [judged(m) for m in report["metrics"]]}


def _check_files(config: LadderConfig, file: Path) -> None:
    """The dataset files and the system prompt file exist."""
    for name in ("train", "dev", "test", "file"):
        given = getattr(config.dataset, name)
        if given is not None and not given.is_file():
            raise ConfigError(f"{file}: dataset.{name}: no such file {given}")
    if config.prompt.system_file is not None and not config.prompt.system_file.is_file():
        raise ConfigError(f"{file}: prompt.system_file: no such file {config.prompt.system_file}")


def _check_metric_names(config: LadderConfig, file: Path) -> None:
    """The target and report metrics are known and their names distinct."""
    try:
        names = [as_metric(config.target.metric).name]
    except ConfigError as exc:
        raise ConfigError(f"{file}: target.metric: {exc}") from None
    for i, spec in enumerate(config.report.metrics):
        try:
            name = as_metric(spec).name
        except ConfigError as exc:
            raise ConfigError(f"{file}: report.metrics[{i}]: {exc}") from None
        if name in names:
            raise ConfigError(
                f"{file}: report.metrics[{i}]: a metric named {name!r} is already measured; give it another name"
            )
        names.append(name)

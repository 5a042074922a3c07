"""``FineTuner`` and ``FineTuneJob``: training a model, on OpenAI or on your machine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tunewise._refs import ModelRef

FineTuneStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class FineTuneSpec(BaseModel):
    """What to train: base model, chat-JSONL data and hyperparameters.

    ``None`` hyperparameters let the provider choose (OpenAI's "auto"). ``options``
    carries plugin-specific settings such as LoRA rank.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str
    training_file: Path
    validation_file: Path | None = None
    n_epochs: int | None = Field(default=None, ge=1, le=50)
    batch_size: int | None = Field(default=None, ge=1)
    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    suffix: str | None = Field(default=None, max_length=64)
    seed: int | None = None
    method: Literal["supervised", "lora", "full"] = "supervised"
    options: dict[str, Any] = Field(default_factory=dict)


class FineTuneEvent(BaseModel):
    """One event of a job: a message and, for training steps, metrics in ``data``."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: float
    level: Literal["info", "warn", "error"] = "info"
    type: str = "message"
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class FineTuneJob(Protocol):
    """A running or finished fine-tune; safe to re-attach to by ``id`` after a restart."""

    @property
    def id(self) -> str:
        """The job's id, to re-attach to it with `FineTuner.attach()`."""
        ...

    @property
    def status(self) -> FineTuneStatus:
        """The last status seen (call `refresh()` to ask again)."""
        ...

    @property
    def model(self) -> ModelRef | None:
        """The trained model as a usable reference, once the job succeeded."""
        ...

    @property
    def error(self) -> str | None:
        """Why the job failed, once it has; ``None`` otherwise."""
        ...

    async def refresh(self) -> FineTuneStatus:
        """Ask the provider for the job's status now, and return it."""
        ...

    def events(self) -> AsyncIterator[FineTuneEvent]:
        """Every event once, in order, following the job until it ends."""
        ...

    async def wait(self, *, poll_interval: float = 5.0, timeout: float | None = None) -> ModelRef:
        """Wait for the end; the model ref, or [`FineTuneError`][tunewise.FineTuneError] if it failed."""
        ...

    async def cancel(self) -> None:
        """Ask the provider to stop the job; nothing to do once it has ended."""
        ...


@runtime_checkable
class FineTuner(Protocol):
    """Starts fine-tune jobs and re-attaches to them."""

    async def start(self, spec: FineTuneSpec) -> FineTuneJob:
        """Start training what ``spec`` describes; returns the job without waiting for it."""
        ...

    async def attach(self, job_id: str) -> FineTuneJob:
        """The job started earlier with this id (by this process or another), to follow or wait for."""
        ...

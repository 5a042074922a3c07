"""A small world for ladder tests: data files, a scripted provider whose base model is wrong and whose
fine-tuned model is right, and a fine-tuner that keeps its jobs on disk (so a restarted process can re-attach).

Imported by tests/test_ladder.py and by the subprocess of the kill-and-resume test.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio

from tunewise import ChatRequest, ModelRef
from tunewise._errors import FineTuneError, NotFoundError
from tunewise.interfaces.finetune import FineTuneEvent, FineTuneSpec, FineTuneStatus
from tunewise.testing import ScriptedProvider

OPTIMIZER_MARK = "You improve system prompts"


def answer(i: int) -> str:
    return f"code-{i * 7}"


def question(i: int) -> str:
    return f"What is the code for item {i}?"


def write_world(
    folder: Path,
    *,
    train: int = 24,
    dev: int = 8,
    test: int = 20,
    extra: str = "",
    metadata: Callable[[int], dict[str, Any]] | None = None,
) -> Path:
    """Train/dev/test files, a knowledge base and a ladder.toml in ``folder``; returns the TOML path.

    ``metadata(i)`` gives case ``i`` its metadata (``kind``, ``must_contain``...).
    """
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": range(0, train), "dev": range(1000, 1000 + dev), "test": range(2000, 2000 + test)}
    for name, ids in splits.items():
        with (folder / f"{name}.jsonl").open("w") as handle:
            for i in ids:
                row: dict[str, Any] = {
                    "id": f"{name}-{i}",
                    "messages": [{"role": "user", "content": question(i)}],
                    "reference": answer(i),
                }
                if metadata is not None:
                    row["metadata"] = metadata(i)
                handle.write(json.dumps(row) + "\n")
    kb = folder / "kb"
    kb.mkdir(exist_ok=True)
    (kb / "codes.md").write_text("Item codes are seven times the item number, written code-N.\n")
    (kb / "other.md").write_text("Opening hours are nine to five.\n")
    config = folder / "ladder.toml"
    config.write_text(
        f"""
rungs = ["zero_shot", "few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"]
requests_per_month = 100000
concurrency = 4
{extra}

[dataset]
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"

[target]
metric = "exact_match"
threshold = 0.8

[models]
base = "scripted:base"
optimizer = "scripted:writer"

[prompt]
system = "Answer with the item code only."

[optimizer]
candidates = 2
rounds = 2

[fine_tune]
epochs = 2
poll_interval = 0.02

[retrieval]
knowledge_base = "kb"
k = 1
"""
    )
    return config


def lookup(text: str) -> str | None:
    for word in text.replace("?", " ").split():
        if word.isdigit():
            return answer(int(word))
    return None


class World:
    """The script: base model answers wrong, the optimizer writes instructions, fine-tuned models answer right."""

    def __init__(
        self,
        log: Path | None = None,
        *,
        needs_context: bool = False,
        first_round: int = 1,
        base_reads_context: bool = False,
    ) -> None:
        self.log = log
        self.first_round = first_round
        self.needs_context = needs_context
        self.base_reads_context = base_reads_context
        """The base model answers right when the knowledge base passage is in its prompt (the rag rung)."""
        self.calls: list[str] = []

    def __call__(self, request: ChatRequest) -> str:
        system = " ".join(m.content or "" for m in request.messages if m.role == "system")
        kind = "writer" if OPTIMIZER_MARK in system else "ft" if request.model.startswith("ft:") else "base"
        self.calls.append(kind)
        if self.log is not None:
            with self.log.open("a") as handle:
                handle.write(kind + "\n")
        if kind == "writer":
            round_no = self.first_round - 1 + sum(1 for c in self.calls if c == "writer")
            return (
                f"<instruction>Reply with the code of the item, round {round_no} A.</instruction>\n"
                f"<instruction>Give only the item code, nothing else, round {round_no} B.</instruction>"
            )
        if kind == "ft":
            text = " ".join(m.content or "" for m in request.messages)
            if self.needs_context and "seven times the item number" not in text:
                return "unknown"  # this fine-tune only knows the codes when the knowledge base is in the prompt
            user = [m.content or "" for m in request.messages if m.role == "user"][-1]
            return lookup(user) or "unknown"
        text = " ".join(m.content or "" for m in request.messages)
        if self.base_reads_context and "seven times the item number" in text:
            user = [m.content or "" for m in request.messages if m.role == "user"][-1]
            return lookup(user) or "I am not sure."
        return "I am not sure."


class DiskJob:
    """A fine-tune job whose record lives in a JSON file; it succeeds once ``release`` exists."""

    def __init__(self, tuner: DiskTuner, job_id: str) -> None:
        self.tuner, self._id = tuner, job_id

    def _record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.tuner.file.read_text())[self._id]
        return data

    @property
    def id(self) -> str:
        return self._id

    @property
    def status(self) -> FineTuneStatus:
        if self._id in self.tuner.failing:
            return "failed"
        release = self.tuner.release
        return "succeeded" if release is None or release.exists() else "running"

    @property
    def model(self) -> ModelRef | None:
        if self.status != "succeeded":
            return None
        return ModelRef(prefix="scripted", name=f"ft:{self._record()['base_model']}:ladder:{self._id}")

    @property
    def error(self) -> str | None:
        return "training diverged" if self._id in self.tuner.failing else None

    async def refresh(self) -> FineTuneStatus:
        return self.status

    async def events(self) -> AsyncIterator[FineTuneEvent]:
        yield FineTuneEvent(id=f"{self._id}-0", created_at=time.time(), message=f"job {self._id} {self.status}")

    async def wait(self, *, poll_interval: float = 0.05, timeout: float | None = None) -> ModelRef:
        with anyio.fail_after(timeout):
            while await self.refresh() not in ("succeeded", "failed"):
                await anyio.sleep(poll_interval)
        if self.status == "failed":
            raise FineTuneError(f"job {self._id} failed: {self.error}")
        model = self.model
        if model is None:
            raise FineTuneError(f"job {self._id} failed")
        return model

    async def cancel(self) -> None:
        return None


class DiskTuner:
    def __init__(self, file: Path, release: Path | None, failing: tuple[str, ...] = ()) -> None:
        self.file, self.release, self.failing = file, release, failing

    def _jobs(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.file.read_text()) if self.file.exists() else {}
        return data

    async def start(self, spec: FineTuneSpec) -> DiskJob:
        jobs = self._jobs()
        job_id = f"ftjob-{len(jobs) + 1:04d}"
        jobs[job_id] = {
            "base_model": spec.base_model,
            "training_file": str(spec.training_file),
            "epochs": spec.n_epochs,
        }
        self.file.write_text(json.dumps(jobs))
        return DiskJob(self, job_id)

    async def attach(self, job_id: str) -> DiskJob:
        if job_id not in self._jobs():
            raise NotFoundError(f"no fine-tune job {job_id!r}", status=404, provider="scripted")
        return DiskJob(self, job_id)


class WorldProvider(ScriptedProvider):
    """The scripted provider with a fine-tuner that survives a restart of the process."""

    def __init__(self, world: World, jobs: Path, release: Path | None = None, failing: tuple[str, ...] = ()) -> None:
        super().__init__(world, name="scripted")
        self.tuner = DiskTuner(jobs, release, failing)

    def fine_tuner(self) -> DiskTuner:  # type: ignore[override]
        return self.tuner

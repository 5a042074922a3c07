"""``LocalFineTuner`` and ``LocalFineTuneJob``: fine-tuning on this machine, behind tunewise's interfaces.

``start`` checks the data, writes the job directory and launches a worker (a process by
default). Starting is idempotent, as on OpenAI: the hash of (base model files, training and
validation file bytes, hyperparameters, suffix) is recorded in ``job.json``, and starting the
same inputs again returns the job that is running or finished (resuming its worker if it
died); a job that failed or was cancelled is started afresh.

The job object only reads the directory, so ``attach(job_id)`` works from any
process, before or after a restart. A job whose worker died without finishing (killed,
out of memory, machine rebooted) is restarted from its last checkpoint when it is next
looked at, up to ``max_resumes`` times.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tunewise import (
    ConfigError,
    FineTuneError,
    FineTuneEvent,
    FineTuneSpec,
    FineTuneStatus,
    ModelRef,
    NotFoundError,
)
from tunewise.interfaces.finetune import TERMINAL_STATUSES
from tunewise_local._chatdata import read_chat_jsonl
from tunewise_local._hyper import Hyperparameters, resolve
from tunewise_local._jobdir import EventReader, EventWriter, JobDir, write_json_atomic
from tunewise_local._loading import check_model_dir, split_model_name
from tunewise_local._quantize import check_quantization
from tunewise_local._resolve import resolve_model_name

if TYPE_CHECKING:
    from tunewise_local._provider import LocalProvider

# Workers this process started, so a dead child is seen as dead (not as a zombie pid).
_PROCESSES: dict[str, subprocess.Popen[bytes]] = {}
_THREADS: dict[str, threading.Thread] = {}
_LAUNCH_LOCK = threading.Lock()
_EXITING = threading.Event()


@atexit.register
def _stop_thread_workers() -> None:
    """At exit, thread workers stop at their next step instead of dying inside torch.

    A daemon thread killed mid-step aborts the interpreter ("terminate called without an
    active exception"); stopped cleanly, the job stays resumable by the next ``attach``.
    """
    _EXITING.set()
    for thread in list(_THREADS.values()):
        thread.join(timeout=60)


log = logging.getLogger("tunewise.local")


def jobs_root(home: Path | None) -> Path:
    from tunewise import load_settings

    base = home if home is not None else load_settings().home
    return Path(base) / "local" / "jobs"


class LocalFineTuner:
    """Starts local fine-tune jobs and re-attaches to them by id."""

    def __init__(self, provider: LocalProvider) -> None:
        self.provider = provider
        self.root = jobs_root(provider.home)

    async def start(self, spec: FineTuneSpec) -> LocalFineTuneJob:
        """Validate the spec and data (one-line errors), then launch the worker."""
        hp = resolve(spec)
        # The worker, or a resumed one, may run from another directory: paths absolute, names resolved.
        spec = await anyio.to_thread.run_sync(_absolute, spec, self.provider.home)
        await anyio.to_thread.run_sync(_validate, spec, hp)
        key = await anyio.to_thread.run_sync(input_key, spec, hp)
        for existing in reversed(self.list_jobs()):
            if _job_key(self.root / existing) == key:
                job_handle = await self.attach(existing)  # resumes a worker that died
                if job_handle.status not in {"failed", "cancelled"}:
                    log.info("local fine-tune: re-attached to job %s (same inputs, key %s)", existing, key[:12])
                    return job_handle
        suffix = "".join(c if c.isalnum() or c in "-_" else "-" for c in spec.suffix or "")
        job_id = f"ftjob-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}" + (f"-{suffix}" if suffix else "")
        job = JobDir(self.root / job_id)
        job.root.mkdir(parents=True)
        write_json_atomic(
            job.job_file,
            {
                "id": job_id,
                "created_at": time.time(),
                "provider": self.provider.name,
                "spec": spec.model_dump(mode="json"),
                "hyperparameters": hp.model_dump(mode="json"),
                "input_key": key,
            },
        )
        job.update_state(status="queued", resumes=0)
        EventWriter(job).emit(f"Created fine-tuning job {job_id}", type="created", method=hp.method)
        _launch(job, hp)
        return LocalFineTuneJob(job)

    async def attach(self, job_id: str) -> LocalFineTuneJob:
        """The job with this id; restarts its worker from the last checkpoint if it died."""
        job = JobDir(self.root / job_id)
        if not job.job_file.is_file():
            raise NotFoundError(f"no local fine-tune job {job_id!r} under {self.root}", provider=self.provider.name)
        handle = LocalFineTuneJob(job)
        await handle.refresh()
        return handle

    def list_jobs(self) -> list[str]:
        """Ids of the jobs on disk, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "job.json").is_file())


def _absolute(spec: FineTuneSpec, home: Path | None) -> FineTuneSpec:
    base, adapter = split_model_name(resolve_model_name(spec.base_model, home))
    name = str(Path(base).expanduser().resolve()) + (f"+{adapter}" if adapter is not None else "")
    validation = spec.validation_file.expanduser().resolve() if spec.validation_file else None
    return spec.model_copy(
        update={
            "base_model": name,
            "training_file": spec.training_file.expanduser().resolve(),
            "validation_file": validation,
        }
    )


def input_key(spec: FineTuneSpec, hp: Hyperparameters) -> str:
    """The idempotency key of a (resolved, absolute) spec: same model files, data, hyperparameters and suffix."""
    digest = hashlib.sha256()
    base = Path(split_model_name(spec.base_model)[0])
    for weights in sorted(base.glob("*.safetensors")):  # the model's identity: its weights, by size and mtime
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for data in (spec.training_file, spec.validation_file):
        digest.update(data.read_bytes() if data is not None else b"-")
    settings = {"base": str(base), "hp": hp.model_dump(mode="json"), "suffix": spec.suffix}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def _job_key(root: Path) -> str | None:
    try:
        key = json.loads((root / "job.json").read_text(encoding="utf-8")).get("input_key")
    except (OSError, ValueError):
        return None
    return key if isinstance(key, str) else None


def _validate(spec: FineTuneSpec, hp: Hyperparameters) -> None:
    base, adapter = split_model_name(spec.base_model)
    if adapter is not None:
        raise ConfigError(
            f"local fine-tune: base_model {spec.base_model!r} has an adapter; merge it first "
            "(tunewise_local.merge_adapter) and train on the merged model"
        )
    check_quantization(hp)
    check_model_dir(Path(base).expanduser())
    _check_tied_head(Path(base).expanduser(), hp)
    read_chat_jsonl(spec.training_file)
    if spec.validation_file is not None:
        read_chat_jsonl(spec.validation_file)


def _check_tied_head(base: Path, hp: Hyperparameters) -> None:
    """A LoRA on ``lm_head`` of a model that ties it to the input embeddings cannot be merged honestly.

    Merging writes the LoRA update into the one shared matrix, so the input embeddings change
    too and the loaded model answers garbage; refuse before training rather than after.
    """
    targets = [hp.target_modules] if isinstance(hp.target_modules, str) else list(hp.target_modules)
    if hp.method != "lora" or not any(t in ("lm_head", "embed_tokens") for t in targets):
        return
    try:
        config = json.loads((base / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if config.get("tie_word_embeddings", True):
        raise ConfigError(
            f"local fine-tune: options.target_modules: {base.name} ties lm_head to its input embeddings, "
            "so a LoRA on lm_head or embed_tokens would change both when merged; "
            'leave them out (the default "all-linear" does) or use method "full"'
        )


def _launch(job: JobDir, hp: Hyperparameters) -> None:
    with _LAUNCH_LOCK:
        if hp.worker == "thread":
            from tunewise_local._training import run_job

            thread = threading.Thread(
                target=run_job,
                args=(job.root,),
                kwargs={"stop": lambda: job.cancel_requested() or _EXITING.is_set()},
                name=f"tunewise-{job.id}",
                daemon=True,
            )
            _THREADS[job.id] = thread
            job.update_state(worker="thread", pid=os.getpid())
            thread.start()
            return
        log = job.log_file.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "tunewise_local._worker", str(job.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the caller and its Ctrl-C; cancel() stops it
        )
        log.close()
        _PROCESSES[job.id] = process
        job.update_state(worker="process", pid=process.pid)


def _worker_alive(job: JobDir, state: dict[str, Any]) -> bool:
    if job.id in _PROCESSES:
        return _PROCESSES[job.id].poll() is None
    if state.get("worker") == "thread":
        thread = _THREADS.get(job.id)
        return thread is not None and thread.is_alive() and state.get("pid") == os.getpid()
    pid = state.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a reused pid is not our worker
        return b"tunewise_local._worker" in cmdline.read_bytes()
    return True


class LocalFineTuneJob:
    """A local fine-tune job, read from its directory; safe to create again from the id anywhere."""

    def __init__(self, job: JobDir) -> None:
        self._job = job
        self._state = job.read_state()
        self._reader = EventReader(job)

    @property
    def id(self) -> str:
        return self._job.id

    @property
    def directory(self) -> Path:
        """The job directory (spec, state, events, checkpoints, output)."""
        return self._job.root

    @property
    def status(self) -> FineTuneStatus:
        status: FineTuneStatus = self._state.get("status", "queued")
        return status

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        pid = self._state.get("pid")
        return pid if isinstance(pid, int) else None

    @property
    def model(self) -> ModelRef | None:
        result = self._state.get("result") or {}
        return ModelRef.parse(result["model"]) if self.status == "succeeded" and "model" in result else None

    @property
    def metrics(self) -> dict[str, Any]:
        """Final metrics (losses, steps, tokens) once the job succeeded."""
        result = self._state.get("result") or {}
        metrics: dict[str, Any] = result.get("metrics", {})
        return metrics

    @property
    def error(self) -> str | None:
        error = self._state.get("error")
        return str(error) if error else None

    async def refresh(self) -> FineTuneStatus:
        self._state = await anyio.to_thread.run_sync(self._refresh_sync)
        return self.status

    def _refresh_sync(self) -> dict[str, Any]:
        with _LAUNCH_LOCK:
            state = self._job.read_state()
            if state.get("status") in TERMINAL_STATUSES or _worker_alive(self._job, state):
                return state
            state = self._job.read_state()  # the worker may have finished between the two reads
            if state.get("status") in TERMINAL_STATUSES:
                return state
            events = EventWriter(self._job)
            if self._job.cancel_requested():
                events.emit("Job cancelled", type="cancelled", level="warn")
                return self._job.update_state(status="cancelled", error="cancelled by user")
            hp = Hyperparameters.model_validate(self._job.read_job()["hyperparameters"])
            resumes = int(state.get("resumes", 0))
            if resumes >= hp.max_resumes:
                message = f"the worker stopped {resumes + 1} times without finishing; see {self._job.log_file}"
                events.emit(message, type="error", level="error")
                return self._job.update_state(status="failed", error=message)
            checkpoint = self._job.latest_checkpoint()
            where = f"checkpoint {checkpoint.name}" if checkpoint else "the start"
            events.emit(
                f"Worker (pid {state.get('pid')}) is gone; restarting from {where}",
                type="restarting",
                level="warn",
                checkpoint=checkpoint.name if checkpoint else None,
            )
            self._job.update_state(status="queued", resumes=resumes + 1)
            _PROCESSES.pop(self._job.id, None)
        _launch(self._job, hp)
        return self._job.read_state()

    async def events(self) -> AsyncIterator[FineTuneEvent]:
        """Every event once, in order, until the job ends (restarted workers included)."""
        while True:
            fresh = await anyio.to_thread.run_sync(self._reader.read_new)
            for event in fresh:
                yield event
            if fresh:
                continue
            if self.status in TERMINAL_STATUSES:
                fresh = await anyio.to_thread.run_sync(self._reader.read_new)
                for event in fresh:
                    yield event
                return
            await anyio.sleep(0.05)
            await self.refresh()

    async def wait(self, *, poll_interval: float = 1.0, timeout: float | None = None) -> ModelRef:
        with anyio.fail_after(timeout):
            while await self.refresh() not in TERMINAL_STATUSES:
                await anyio.sleep(poll_interval)
        if self.model is None:
            raise FineTuneError(f"local fine-tune job {self.id} ended {self.status}: {self.error or 'no model'}")
        return self.model

    async def cancel(self, *, grace_s: float = 30.0) -> None:
        """Ask the worker to stop at the next step; kill it if it has not within ``grace_s``."""
        if self.status in TERMINAL_STATUSES:
            return
        self._job.cancel_file.touch()
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if await self.refresh() in TERMINAL_STATUSES:
                return
            await anyio.sleep(0.05)
        pid = self.pid
        if pid is not None and self._state.get("worker") == "process":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await self.refresh()

    def __repr__(self) -> str:
        return f"<LocalFineTuneJob {self.id} {self.status}>"

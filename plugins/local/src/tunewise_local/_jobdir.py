"""A fine-tune job on disk: its spec, state, event log and checkpoints.

Everything a job is lives under ``<home>/local/jobs/<id>/``, so any process can
re-attach to it by id, and a worker that was killed can be restarted from it::

    job.json          spec, resolved hyperparameters, creation time (written once)
    state.json        status, worker pid, error, result, resume count (replaced atomically)
    events.jsonl      one FineTuneEvent per line, appended by the worker
    cancel            exists once cancellation was asked for
    checkpoints/      step-00000042/ ... (adapter or model, optimizer, trainer state)
    worker.log        the worker process's own output, for post-mortems
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise import FineTuneEvent


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write then rename: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class JobDir:
    """Paths and small reads and writes for one job directory."""

    root: Path

    @property
    def id(self) -> str:
        return self.root.name

    @property
    def job_file(self) -> Path:
        return self.root / "job.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def events_file(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def cancel_file(self) -> Path:
        return self.root / "cancel"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def log_file(self) -> Path:
        return self.root / "worker.log"

    def read_job(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.job_file.read_text(encoding="utf-8"))
        return data

    def read_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"status": "validating_files"}
        return data

    def update_state(self, **changes: Any) -> dict[str, Any]:
        state = self.read_state()
        state.update(changes, updated_at=time.time())
        write_json_atomic(self.state_file, state)
        return state

    def cancel_requested(self) -> bool:
        return self.cancel_file.exists()

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint (incomplete ones are still named ``*.tmp``)."""
        if not self.checkpoints.is_dir():
            return None
        done = sorted(p for p in self.checkpoints.iterdir() if p.name.startswith("step-") and p.is_dir())
        return done[-1] if done else None


class EventWriter:
    """Appends events with ids that stay unique across restarts of the worker."""

    def __init__(self, job: JobDir) -> None:
        self._job = job
        self._count = 0
        if job.events_file.exists():
            raw = job.events_file.read_bytes()
            self._count = raw.count(b"\n")
            if raw and not raw.endswith(b"\n"):  # a worker was killed mid-line: close that line
                with job.events_file.open("ab") as handle:
                    handle.write(b"\n")
                self._count += 1

    def emit(self, message: str, *, type: str = "message", level: str = "info", **data: Any) -> None:
        event = {
            "id": f"{self._job.id}-ev{self._count:06d}",
            "created_at": time.time(),
            "level": level,
            "type": type,
            "message": message,
            "data": data,
        }
        self._count += 1
        with self._job.events_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")


class EventReader:
    """Reads whole new lines of the event log from where it last stopped."""

    def __init__(self, job: JobDir) -> None:
        self._job = job
        self._offset = 0

    def read_new(self) -> list[FineTuneEvent]:
        try:
            with self._job.events_file.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        events = []
        for line in chunk[:end].splitlines():
            try:
                events.append(FineTuneEvent.model_validate_json(line))
            except ValueError:  # the half line a killed worker left behind
                continue
        return events

"""The run store: every case result in SQLite (WAL), written the moment it arrives.

One file holds many runs. A run has its config; each (strategy, case) has one row with
the messages sent, the response, usage, latency, cost, scores and any error. Rows are
committed one by one, so a run killed at any moment (even SIGKILL) keeps everything
finished, and resuming the run skips exactly those cases.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tunewise._errors import ConfigError
from tunewise._types import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    finished_at REAL,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    strategies TEXT NOT NULL,
    n_cases INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    strategy TEXT NOT NULL,
    case_id TEXT NOT NULL,
    case_index INTEGER NOT NULL,
    status TEXT NOT NULL,
    case_json TEXT NOT NULL,
    requests TEXT NOT NULL,
    response TEXT,
    answer TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_s REAL,
    cost REAL,
    scoring_cost REAL,
    scores TEXT NOT NULL,
    details TEXT NOT NULL,
    error TEXT,
    cached INTEGER NOT NULL DEFAULT 0,
    handoff INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    compute_s REAL,
    compute_device TEXT,
    PRIMARY KEY (run_id, strategy, case_id)
);
"""

_ADDED_COLUMNS = {"compute_s": "REAL", "compute_device": "TEXT"}
"""Columns newer than some stores on disk: added in place when such a store is opened."""


_RESULT_COLUMNS = (
    "run_id, strategy, case_id, case_index, status, case_json, requests, response, answer, prompt_tokens, "
    "completion_tokens, latency_s, cost, scoring_cost, scores, details, error, cached, handoff, attempts, "
    "created_at, compute_s, compute_device"
)

NOT_APPLICABLE = "not applicable"
"""How ``CaseResult.details`` marks a metric that does not apply to a case (it has no score there)."""


class CaseResult(BaseModel):
    """One strategy's result on one case, as stored. ``cost`` ``None`` means unknown (never a silent 0)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    strategy: str
    case_id: str
    case_index: int
    status: Literal["ok", "error"]
    case: dict[str, Any]
    requests: list[dict[str, Any]] = Field(default_factory=list)
    """Every request sent, exactly (messages and options)."""
    response: str | None = None
    answer: dict[str, Any] | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    cost: float | None = None
    scoring_cost: float | None = None
    """What judging this answer cost (LLM-as-judge metrics), kept apart from the strategy's cost."""
    scores: dict[str, float] = Field(default_factory=dict)
    details: dict[str, str] = Field(default_factory=dict)
    error: str | None = None
    cached: bool = False
    handoff: bool = False
    attempts: int = 1

    def not_applicable(self, metric: str) -> bool:
        """``metric`` does not apply to this answered case: no score, by the metric's choice (not an error)."""
        return (
            self.status == "ok"
            and metric not in self.scores
            and self.details.get(metric, "").startswith(NOT_APPLICABLE)
        )


class RunInfo(BaseModel):
    """A run's header: id, config, strategies and progress."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    created_at: float
    finished_at: float | None
    config: dict[str, Any]
    config_hash: str
    strategies: list[str]
    n_cases: int
    ok: int = 0
    errors: int = 0

    @property
    def expected(self) -> int:
        return self.n_cases * len(self.strategies)

    @property
    def complete(self) -> bool:
        return self.ok == self.expected


class RunStore:
    """A SQLite run store. Safe to share between tasks of one event loop and threads."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """Open the store at ``path``, creating it (and its folder) unless ``create`` is ``False``.

        Raises:
            ConfigError: one line naming the file when it is missing (``create=False``), is a
                folder, cannot be created, or is not a run store (not SQLite, or damaged).
        """
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigError(f"run store {self.path} is a folder; give a .sqlite file")
        if not create and not self.path.is_file():
            raise ConfigError(f"no run store at {self.path}; 'tunewise eval run' creates one")
        self._lock = threading.Lock()
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(f"cannot open run store {self.path}: {reason}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: every commit survives a killed process; only an OS crash can lose the last ones.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(results)")}
            for column, kind in _ADDED_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE results ADD COLUMN {column} {kind}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ConfigError(f"{self.path} is not a run store ({exc})") from None

    def __repr__(self) -> str:
        return f"<RunStore {str(self.path)!r}>"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ---------------------------------------------------------------------------

    def begin_run(
        self, run_id: str, *, config: dict[str, Any], config_hash: str, strategies: Sequence[str], n_cases: int
    ) -> bool:
        """Create the run, or check that an existing one has the same config. True if it already existed.

        Resuming keeps the run but records this call's config: the settings outside the hash
        (concurrency, timeout, ``group_by``) are those of the latest call.
        """
        with self._lock:
            row = self._db.execute("SELECT config_hash FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None:
                if row[0] != config_hash:
                    raise ConfigError(
                        f"run {run_id!r} already exists in {self.path} with a different configuration; "
                        "choose another run id to start a new run"
                    )
                self._db.execute(
                    "UPDATE runs SET finished_at = NULL, config = ? WHERE run_id = ?",
                    (json.dumps(config, default=str), run_id),
                )
                return True
            self._db.execute(
                "INSERT INTO runs (run_id, created_at, config, config_hash, strategies, n_cases)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    time.time(),
                    json.dumps(config, default=str),
                    config_hash,
                    json.dumps(list(strategies)),
                    n_cases,
                ),
            )
            return False

    def finish_run(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (time.time(), run_id))

    def runs(self) -> list[RunInfo]:
        """All runs, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT run_id FROM runs ORDER BY created_at DESC").fetchall()
        return [self.run(r[0]) for r in rows]

    def run(self, run_id: str) -> RunInfo:
        with self._lock:
            row = self._db.execute(
                "SELECT run_id, created_at, finished_at, config, config_hash, strategies, n_cases"
                " FROM runs WHERE run_id = ?",
                (run_id,),
            ).fetchone()
            if row is None:
                known = [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 5")]
                raise ConfigError(f"no run {run_id!r} in {self.path} (recent: {', '.join(known) or 'none'})")
            counts = dict(
                self._db.execute(
                    "SELECT status, COUNT(*) FROM results WHERE run_id = ? GROUP BY status", (run_id,)
                ).fetchall()
            )
        return RunInfo(
            run_id=row[0],
            created_at=row[1],
            finished_at=row[2],
            config=json.loads(row[3]),
            config_hash=row[4],
            strategies=json.loads(row[5]),
            n_cases=row[6],
            ok=counts.get("ok", 0),
            errors=counts.get("error", 0),
        )

    # --- results ------------------------------------------------------------------------

    def completed(self, run_id: str) -> set[tuple[str, str]]:
        """(strategy, case_id) pairs already answered and scored: a resumed run skips them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT strategy, case_id FROM results WHERE run_id = ? AND status = 'ok'", (run_id,)
            ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def attempts(self, run_id: str) -> dict[tuple[str, str], int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT strategy, case_id, attempts FROM results WHERE run_id = ?", (run_id,)
            ).fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

    def write(self, result: CaseResult) -> None:
        """Store one result, committed at once (a failed case may later be replaced by its retry)."""
        values = (
            result.run_id,
            result.strategy,
            result.case_id,
            result.case_index,
            result.status,
            json.dumps(result.case),
            json.dumps(result.requests),
            result.response,
            json.dumps(result.answer) if result.answer is not None else None,
            result.usage.prompt_tokens,
            result.usage.completion_tokens,
            result.latency_s,
            result.cost,
            result.scoring_cost,
            json.dumps(result.scores),
            json.dumps(result.details),
            result.error,
            int(result.cached),
            int(result.handoff),
            result.attempts,
            time.time(),
            result.usage.compute_s,
            result.usage.compute_device,
        )
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO results ({_RESULT_COLUMNS}) VALUES (" + ", ".join("?" * len(values)) + ")",
                values,
            )

    def results(
        self, run_id: str, strategy: str | None = None, *, status: Literal["ok", "error"] | None = None
    ) -> list[CaseResult]:
        """Stored results in case order (then strategy order as listed in the run)."""
        query = "SELECT * FROM results WHERE run_id = ?"
        params: list[Any] = [run_id]
        if strategy is not None:
            query += " AND strategy = ?"
            params.append(strategy)
        if status is not None:
            query += " AND status = ?"
            params.append(status)
        query += " ORDER BY case_index, strategy"
        with self._lock:
            cursor = self._db.execute(query, params)
            columns = [c[0] for c in cursor.description]
            rows = cursor.fetchall()
        return [_result(dict(zip(columns, row, strict=True))) for row in rows]

    def strategies(self, run_id: str) -> list[str]:
        return self.run(run_id).strategies


def _result(row: dict[str, Any]) -> CaseResult:
    return CaseResult(
        run_id=row["run_id"],
        strategy=row["strategy"],
        case_id=row["case_id"],
        case_index=row["case_index"],
        status=row["status"],
        case=json.loads(row["case_json"]),
        requests=json.loads(row["requests"]),
        response=row["response"],
        answer=json.loads(row["answer"]) if row["answer"] else None,
        usage=Usage(
            prompt_tokens=row["prompt_tokens"],
            completion_tokens=row["completion_tokens"],
            compute_s=row.get("compute_s"),
            compute_device=row.get("compute_device"),
        ),
        latency_s=row["latency_s"],
        cost=row["cost"],
        scoring_cost=row["scoring_cost"],
        scores=json.loads(row["scores"]),
        details=json.loads(row["details"]),
        error=row["error"],
        cached=bool(row["cached"]),
        handoff=bool(row["handoff"]),
        attempts=row["attempts"],
    )


def iter_pairs(
    a: Iterable[CaseResult], b: Iterable[CaseResult]
) -> tuple[list[tuple[CaseResult, CaseResult]], int, int]:
    """Results of A and B paired by case (both ``ok``), plus how many of each were unpaired.

    A case pairs only if its id, input and reference are the same on both sides: a case
    edited between two runs is not the same case.
    """
    b_by_case = {r.case_id: r for r in b if r.status == "ok"}
    pairs = []
    a_ok = [r for r in a if r.status == "ok"]
    for r in a_ok:
        other = b_by_case.get(r.case_id)
        if other is not None and _same_case(r.case, other.case):
            pairs.append((r, other))
    return pairs, len(a_ok) - len(pairs), len(b_by_case) - len(pairs)


def _same_case(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a.get("input") == b.get("input") and a.get("reference") == b.get("reference"))

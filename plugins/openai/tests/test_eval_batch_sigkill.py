"""``tunewise eval run --batch`` killed with SIGKILL between submitting its batch and the batch's end, then run
again: it re-attaches to the batch by the id in the run store, and the server saw exactly one batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunewise_openai.fake import FakeServer

from .conftest import SECRET

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")
EVAL = """
cases = "cases.jsonl"
store = "runs.sqlite"
run_id = "batched"
metrics = ["exact_match"]

[[strategies]]
type = "zero_shot"
model = "openai:gpt-4o-mini"
name = "zero"
"""


def recorded_batches(store: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT batch_id, status FROM batches WHERE run_id = 'batched'").fetchall()
    except sqlite3.OperationalError:  # the store or its table is not there yet
        return []


def polled(fake: FakeServer) -> bool:
    return any(path.startswith("/v1/batches/batch_") for path in fake.stats()["requests_by_path"])


@pytest.mark.slow
def test_a_killed_batch_run_resumes_by_batch_id_and_never_submits_twice(fake: FakeServer, tmp_path: Path) -> None:
    (tmp_path / "tunewise.toml").write_text(
        f'[profiles.openai]\nbase_url = "{fake.base_url}"\napi_key = "{SECRET}"\n'
        "options = {poll_interval = 0.02, max_retries = 2}\n"
    )
    cases = [{"id": f"c{i}", "input": f"question {i}", "reference": f"You said: question {i}"} for i in range(6)]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (tmp_path / "eval.toml").write_text(EVAL)
    env = {**os.environ, "TUNEWISE_CONFIG": str(tmp_path / "tunewise.toml"), "TUNEWISE_HOME": str(tmp_path / "home")}
    command = [CLI, "eval", "run", "eval.toml", "--batch", "--no-progress", "--json"]
    store = tmp_path / "runs.sqlite"

    fake.fake.state.hold_batches = True  # submitted, then in_progress until released
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (recorded_batches(store) and polled(fake)):  # its id is stored and the CLI is waiting on it
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the batch was never submitted"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    ((batch_id, status),) = recorded_batches(store)
    assert status == "submitted" and fake.fake.state.batches[batch_id]["status"] == "in_progress"

    fake.fake.state.hold_batches = False
    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["ok"], summary["errors"], summary["batches"]) == (6, 0, [batch_id])
    stats = fake.stats()
    assert stats["batches"] == 1 and stats["requests_by_path"].get("/v1/batches") == 1  # one POST, ever
    assert stats["completions_served"] == 6 and "/v1/chat/completions" not in stats["requests_by_path"]
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT case_id, status, cost FROM results WHERE run_id = 'batched'").fetchall()
    assert sorted(r[0] for r in rows) == [c["id"] for c in cases] and {r[1] for r in rows} == {"ok"}
    assert all(r[2] is not None and r[2] > 0 for r in rows)
    assert recorded_batches(store) == [(batch_id, "collected")]

"""A `tunewise demo support-bot` killed by SIGKILL in its fine-tune continues on the next run: one job, every rung."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "support-bot"


@pytest.mark.slow
def test_a_killed_demo_resumes_and_reattaches_to_its_fine_tune_job(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    command = [
        str(Path(sys.executable).parent / "tunewise"),
        *("demo", "support-bot", "--quick", "--no-progress"),
        *("--example", str(EXAMPLE), "--out", str(out)),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    jobs = out / "home" / "local" / "jobs"
    deadline = time.monotonic() + 150
    try:
        while not list(jobs.glob("*/job.json")):
            assert first.poll() is None, "the demo finished before its fine-tune job could be seen"
            assert time.monotonic() < deadline, "no fine-tune job started"
            time.sleep(0.1)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    state = json.loads((out / "ladder" / "state.json").read_text(encoding="utf-8"))
    assert "rag_fine_tuned" not in state["results"]
    started = [p.name for p in jobs.iterdir()]
    assert len(started) == 1

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert second.returncode == 0, second.stderr[-2000:]
    state = json.loads((out / "ladder" / "state.json").read_text(encoding="utf-8"))
    assert set(state["results"]) == {"zero_shot", "few_shot", "optimized_prompt", "rag", "fine_tune", "rag_fine_tuned"}
    assert state["fine_tune"]["job_id"] == started[0] and not state["fine_tune"]["previous_jobs"]
    assert [p.name for p in jobs.iterdir()] == started  # never a second job
    assert (out / "ladder" / "report.html").is_file()
    assert "report:" in second.stdout

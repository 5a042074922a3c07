"""SIGKILL a ladder mid-fine-tune in a real subprocess, resume it: no rung re-run, no second fine-tune job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    from pathlib import Path
    import anyio
    sys.path.insert(0, sys.argv[1])
    import ladder_world
    from tunewise.ladder import run_ladder

    folder = Path(sys.argv[2])
    warnings.simplefilter("ignore")
    world = ladder_world.World(log=folder / "calls.log")
    provider = ladder_world.WorldProvider(world, folder / "jobs.json", release=folder / "release")
    outcome = anyio.run(lambda: run_ladder(folder / "ladder.toml", providers={"scripted": provider}))
    print(outcome.recommendation().chosen)
    """
)


def _state(folder: Path) -> dict[str, object]:
    try:
        data: dict[str, object] = json.loads((folder / "ladder-out" / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


@pytest.mark.slow
def test_sigkill_during_the_fine_tune_then_resume(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import ladder_world

    ladder_world.write_world(tmp_path)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    command = [sys.executable, str(script), str(Path(__file__).parent), str(tmp_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while _state(tmp_path).get("fine_tune") is None:  # the job is started and recorded; it cannot finish yet
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the ladder never reached the fine-tune"
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    before = (tmp_path / "calls.log").read_text().split()
    state = _state(tmp_path)
    assert set(state["results"]) == {"zero_shot", "few_shot", "optimized_prompt"}  # type: ignore[arg-type]
    assert "ft" not in before

    (tmp_path / "release").touch()  # the provider finishes the job while nobody watches
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "fine_tune"
    after = (tmp_path / "calls.log").read_text().split()[len(before) :]
    assert set(after) == {"ft"}, "a finished rung was run again"  # only the fine-tuned model was called
    assert len(after) == 20
    jobs = json.loads((tmp_path / "jobs.json").read_text())
    assert list(jobs) == ["ftjob-0001"]  # re-attached, never started twice
    final = _state(tmp_path)
    assert final["fine_tune"]["job_id"] == "ftjob-0001"  # type: ignore[index]
    assert (tmp_path / "ladder-out" / "report.html").is_file()

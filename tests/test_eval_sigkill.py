"""Kill an evaluation with SIGKILL in a real subprocess, resume it: no call twice, no result lost."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys
    import anyio
    from tunewise import Model, ModelRef
    from tunewise.evaluation import Case, evaluate
    from tunewise.strategies import ZeroShot
    from tunewise.testing import ScriptedProvider

    store, log = sys.argv[1], sys.argv[2]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def handler(request):
        question = request.messages[-1].content
        os.write(fd, (question + "\\n").encode())  # one line per call actually sent
        return str(2 * int(question.split()[2]))

    provider = ScriptedProvider(handler, latency=0.05)
    cases = [Case.of(f"What is {i} + {i}?", str(2 * i), id=f"c{i}") for i in range(120)]
    strategy = ZeroShot(Model(ModelRef(prefix="scripted", name="m"), provider))
    run = lambda: evaluate([strategy], cases, ["exact_match"], store=store, run_id="killme", concurrency=4)
    summary = anyio.run(run)
    print(summary.ok, summary.skipped)
    """
)


def ok_rows(store: Path) -> set[str]:
    if not store.exists():
        return set()
    try:
        with sqlite3.connect(store) as db:
            rows = db.execute("SELECT case_id FROM results WHERE run_id = 'killme' AND status = 'ok'").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return set()
    return {r[0] for r in rows}


@pytest.mark.slow
def test_sigkill_then_resume_makes_no_call_twice_and_loses_nothing(tmp_path: Path) -> None:
    script, store, log = tmp_path / "run.py", tmp_path / "runs.sqlite", tmp_path / "calls.log"
    script.write_text(SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(store), str(log)])
    deadline = time.monotonic() + 60
    while len(ok_rows(store)) < 30:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    stored_at_kill = ok_rows(store)
    calls_at_kill = collections.Counter(log.read_text().split("\n")[:-1])
    assert 30 <= len(stored_at_kill) < 120

    resumed = subprocess.run([sys.executable, str(script), str(store), str(log)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    ok, skipped = map(int, resumed.stdout.split())
    assert skipped == len(stored_at_kill) and ok == 120 - skipped

    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT case_id, status, scores FROM results WHERE run_id = 'killme'").fetchall()
    assert len(rows) == 120 and {r[1] for r in rows} == {"ok"}  # every case scored, exactly one row each
    calls = collections.Counter(log.read_text().split("\n")[:-1])
    by_case = {f"c{q.split()[2]}": n for q, n in calls.items()}
    assert set(by_case) == {f"c{i}" for i in range(120)}
    # a case stored before the kill was never sent again
    assert all(by_case[c] == 1 for c in stored_at_kill)
    # only calls in flight at the kill (no answer stored yet) could be sent twice: at most `concurrency`
    repeated = {c for c, n in by_case.items() if n > 1}
    assert len(repeated) <= 4
    assert all(c not in stored_at_kill for c in repeated)
    assert sum(calls_at_kill.values()) - len(stored_at_kill) <= 4

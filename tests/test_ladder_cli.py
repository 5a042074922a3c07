"""``tunewise ladder run / report`` in a subprocess, through the ``scripted`` plugin (echo model, in-memory jobs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")

CONFIG = """
rungs = ["zero_shot", "few_shot", "fine_tune"]
requests_per_month = 50000

[dataset]
train = "data/train.jsonl"
dev = "data/dev.jsonl"
test = "data/test.jsonl"

[target]
metric = "token_f1"
threshold = 0.9

[models]
base = "scripted:echo"

[fine_tune]
poll_interval = 0
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def write(folder: Path) -> None:
    data = folder / "data"
    data.mkdir(parents=True)
    for name, n in (("train", 12), ("dev", 5), ("test", 15)):
        rows = [{"id": f"{name}{i}", "input": f"question number {i}", "reference": f"answer {i}"} for i in range(n)]
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "ladder.toml").write_text(CONFIG)


@pytest.mark.slow
def test_ladder_run_then_report(tmp_path: Path) -> None:
    write(tmp_path)
    done = run("ladder", "run", "ladder.toml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    rec = data["recommendation"]
    assert rec["chosen"] is None and rec["best"] in data["rungs"]
    assert set(data["rungs"]) == {"zero_shot", "few_shot", "fine_tune"}
    assert data["rungs"]["fine_tune"]["model"].startswith("scripted:ft:echo:ladder:ftjob-")
    assert rec["costs"]["zero_shot"]["per_1k_requests"] is None  # the echo model has no price: unknown
    assert rec["next_steps"], "nothing reached the target, so the report says what to try next"
    out = tmp_path / "ladder-out"
    (out / "report.md").unlink()

    shown = run("ladder", "report", "ladder-out", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "no rung reached the target" in shown.stdout
    assert "unknown" in shown.stdout
    assert "under [prices] in tunewise.toml" in " ".join(shown.stdout.split())  # not eaten as rich markup
    assert "no rung reached the target" in (out / "report.md").read_text()

    # the same command again resumes: nothing left to do, same answer
    again = run("ladder", "run", "ladder.toml", "--json", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rungs"] == data["rungs"]


def test_ladder_errors_are_one_line(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "ladder.toml").write_text(CONFIG.replace("threshold = 0.9", "threshold = -1"))
    bad = run("ladder", "run", "ladder.toml", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: ladder.toml: target.threshold: Input should be greater than or equal to 0"
    ]
    missing = run("ladder", "report", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1
    assert "nowhere" in missing.stderr and ("does not exist" in missing.stderr or "no ladder output" in missing.stderr)
    elsewhere = run("ladder", "report", "data", cwd=tmp_path)
    assert elsewhere.returncode == 2 and "data: no ladder output here" in elsewhere.stderr
    override = run("ladder", "run", "ladder.toml", "--model", "no-prefix", cwd=tmp_path)
    assert override.returncode == 2 and "--model" in override.stderr

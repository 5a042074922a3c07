"""``tunewise eval run / compare / report / runs`` end to end, in a subprocess like a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")

CONFIG = """
cases = "cases.jsonl"
store = "runs.sqlite"
run_id = "cli-demo"
concurrency = 4
timeout = 10
cache = "cache.sqlite"
metrics = ["exact_match", "token_f1", {type = "contains", name = "mentions_refund", text = "refund"}]
prices = {"scripted:echo" = {input = 0.15, output = 0.60}}

[retrievers.kb]
type = "memory"
documents = "docs.jsonl"
embedder = "hashing-128"

[[strategies]]
type = "zero_shot"
name = "echo"
model = "scripted:echo"

[[strategies]]
type = "rag"
name = "rag"
model = "scripted:echo"
retriever = "kb"
k = 1
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.slow
def test_eval_run_compare_report(tmp_path: Path) -> None:
    # the echo model repeats the question: right when the reference is the question itself
    lines = [
        json.dumps({"id": f"q{i}", "input": f"refund question {i}", "reference": f"refund question {i}"})
        for i in range(30)
    ]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "d1", "text": "Refunds take 14 days."}) + "\n")
    (tmp_path / "eval.toml").write_text(CONFIG)

    first = run("eval", "run", "eval.toml", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert (summary["run_id"], summary["ok"], summary["errors"], summary["skipped"]) == ("cli-demo", 60, 0, 0)
    assert summary["cost"] > 0 and summary["cache_hits"] == 0

    again = run("eval", "run", "eval.toml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 ok, 0 errors, 60 already done (resumed)" in again.stdout

    fresh = run("eval", "run", "eval.toml", "--run-id", "cli-cached", "--json", cwd=tmp_path)
    cached = json.loads(fresh.stdout)
    assert cached["cache_hits"] == 60 and cached["cost"] == pytest.approx(summary["cost"])

    compared = run("eval", "compare", "cli-demo/echo", "cli-demo/rag", "--store", "runs.sqlite", "--json", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    by_metric = {c["metric"]: c for c in json.loads(compared.stdout)["comparisons"]}
    assert by_metric["exact_match"]["verdict"].startswith("echo better than rag by 1.00 on exact_match")
    assert by_metric["mentions_refund"]["verdict"].startswith("no difference detected on mentions_refund with 30")
    assert all(c["p_adjusted"] is None and c["confidence"] == 0.95 for c in by_metric.values())

    corrected = run(
        "eval", "compare", "cli-demo/echo", "cli-demo/rag", "--store", "runs.sqlite", "--json",
        "--confidence", "0.9", "--correction", "holm", cwd=tmp_path,
    )  # fmt: skip
    assert corrected.returncode == 0, corrected.stderr
    held = json.loads(corrected.stdout)["comparisons"]
    assert all(c["correction"] == "holm" and c["family"] == len(held) and c["confidence"] == 0.9 for c in held)
    assert all(c["p_adjusted"] >= c["p_value"] for c in held)

    # a judge that always picks the answer shown first: every pair flips when swapped, so all are ties
    replies = json.dumps(["Winner: 1"] * 60)
    (tmp_path / "tunewise.toml").write_text(
        f'[profiles.judge]\nplugin = "scripted"\noptions = {{replies = {replies}}}\n'
    )
    judged = run(
        "eval", "compare", "cli-demo/echo", "cli-demo/rag", "--store", "runs.sqlite", "--json",
        "--judge", "judge:any", "--correction", "holm", cwd=tmp_path,
    )  # fmt: skip
    assert judged.returncode == 0, judged.stderr
    payload = json.loads(judged.stdout)
    pairwise, family = payload["pairwise"], len(payload["comparisons"]) + 1  # the judge is one more test
    assert pairwise["inconsistent"] == 30 and pairwise["family"] == family and pairwise["correction"] == "holm"
    assert all(c["family"] == family for c in payload["comparisons"])
    assert pairwise["verdict"].startswith("judge shows no clear preference over 30 pairs")
    (tmp_path / "tunewise.toml").unlink()

    table = run(
        "eval", "compare", "cli-demo/echo", "cli-demo/rag", "--store", "runs.sqlite", "-m", "token_f1",
        "--correction", "bonferroni", cwd=tmp_path,
    )  # fmt: skip
    assert table.returncode == 0 and "paired permutation" in table.stdout and "token_f1" in table.stdout
    assert "Bonferroni" not in table.stdout  # one metric, no judge: nothing to correct for

    report = run("eval", "report", "cli-demo", "--store", "runs.sqlite", "--out", "reports", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "reports" / "cli-demo.html").read_text().startswith("<!DOCTYPE html>")
    md = (tmp_path / "reports" / "cli-demo.md").read_text()
    assert "echo better than rag" in md and "Multiple comparisons: no correction" in md  # two strategies
    strict = run(
        "eval", "report", "cli-demo", "--store", "runs.sqlite", "--out", "strict", "--confidence", "0.99",
        "--correction", "bonferroni", cwd=tmp_path,
    )  # fmt: skip
    assert strict.returncode == 0, strict.stderr
    md = (tmp_path / "strict" / "cli-demo.md").read_text()
    assert "(mean, 99% bootstrap CI)" in md and "Multiple comparisons: Bonferroni correction" in md

    listed = run("eval", "runs", "--store", "runs.sqlite", cwd=tmp_path)
    assert "cli-demo\techo, rag\tcomplete" in listed.stdout

    exported = run("eval", "export", "cli-demo", "--store", "runs.sqlite", "--strategy", "rag", cwd=tmp_path)
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(rows) == 30 and {r["strategy"] for r in rows} == {"rag"}
    assert rows[0]["requests"][0]["messages"][-1]["content"].startswith("Sources:\n[1] (d1) Refunds take 14 days.")
    assert rows[0]["cost"] > 0 and rows[0]["usage"]["prompt_tokens"] > 0


@pytest.mark.slow
def test_eval_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\n[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n'
    )
    (tmp_path / "cases.jsonl").write_text('{"input": "ok"}\n{"input": 3}\n')
    bad_case = run("eval", "run", "eval.toml", cwd=tmp_path)
    assert bad_case.returncode == 2
    assert bad_case.stderr.strip() == "error: cases.jsonl:2: input: must be a non-empty string or list of messages"

    (tmp_path / "eval.toml").write_text('cases = "cases.jsonl"\nmetric = ["exact_match"]\n')
    typo = run("eval", "run", "eval.toml", cwd=tmp_path)
    assert typo.returncode == 2 and "unknown keys ['metric']" in typo.stderr and typo.stderr.count("\n") == 1

    missing = run("eval", "compare", "nope", "other", "--store", "runs.sqlite", cwd=tmp_path)
    assert missing.returncode == 2 and "no run store at runs.sqlite" in missing.stderr
    assert not (tmp_path / "runs.sqlite").exists()  # reading a store that is not there does not create one


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path: Path) -> None:
    import os
    import signal
    import sqlite3
    import time

    (tmp_path / "tunewise.toml").write_text('[profiles.slow]\nplugin = "scripted"\noptions = {latency = 0.05}\n')
    lines = [json.dumps({"id": f"q{i}", "input": f"question {i}", "reference": f"question {i}"}) for i in range(60)]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\nrun_id = "ctrl-c"\nconcurrency = 2\n'
        '[[strategies]]\ntype = "zero_shot"\nmodel = "slow:echo"\n'
    )
    env = {**os.environ, "TUNEWISE_CONFIG": str(tmp_path / "tunewise.toml")}
    process = subprocess.Popen(
        [CLI, "eval", "run", "eval.toml", "--no-progress"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )

    def stored() -> int:
        try:
            with sqlite3.connect(tmp_path / "runs.sqlite") as db:
                return int(db.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 60
    while stored() < 10:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "interrupted: every finished case is stored" in stderr and "Traceback" not in stderr
    done = stored()
    assert 10 <= done < 60
    resumed = subprocess.run(
        [CLI, "eval", "run", "eval.toml", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] == done and summary["ok"] == 60 - done


@pytest.mark.slow
def test_group_by_in_the_config_and_on_the_command_line(tmp_path: Path) -> None:
    # the echo model repeats the question: kb cases hold their key phrase, style cases do not, general ones have none
    rows = []
    for i in range(24):
        kind = "kb" if i % 2 else "style" if i < 20 else "general"
        metadata = {
            "kind": kind,
            "must_contain": [f"item {i}"] if kind == "kb" else ["Lumen"] if kind == "style" else [],
        }
        rows.append(json.dumps({"id": f"q{i}", "input": f"what about item {i}", "metadata": metadata}))
    (tmp_path / "cases.jsonl").write_text("\n".join(rows) + "\n")
    config = (
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\nmetrics = ["must_contain"]\n'
        '[[strategies]]\ntype = "zero_shot"\nname = "a"\nmodel = "scripted:echo"\n'
        '[[strategies]]\ntype = "system_prompt"\nname = "b"\nmodel = "scripted:echo"\nsystem = "Be brief."\n'
    )
    (tmp_path / "eval.toml").write_text(config)
    first = json.loads(run("eval", "run", "eval.toml", "--json", cwd=tmp_path).stdout)
    # group_by changes no answer: adding it resumes the same run, and its reports split by kind
    (tmp_path / "eval.toml").write_text('group_by = "kind"\n' + config)
    again = json.loads(run("eval", "run", "eval.toml", "--json", cwd=tmp_path).stdout)
    assert again["run_id"] == first["run_id"] and again["skipped"] == 48 and again["ran"] == 0
    report = run("eval", "report", first["run_id"], "--store", "runs.sqlite", "--out", "reports", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    md = (tmp_path / "reports" / f"{first['run_id']}.md").read_text()
    assert "## By kind" in md and "| kb | 12 | a | 12 | 1.000 [1.000, 1.000] |" in md
    assert "| style | 10 | a | 10 | 0.000 [0.000, 0.000] |" in md and "| general | 2 | a | 2 | n/a |" in md
    compared = run("eval", "compare", "a", "b", "--store", "runs.sqlite", "--json", cwd=tmp_path)
    groups = [(c["group"], c["n"]) for c in json.loads(compared.stdout)["comparisons"]]
    assert groups == [(None, 22), ("style", 10), ("kb", 12)]  # must_contain applies to no general case
    table = run("eval", "compare", "a", "b", "--store", "runs.sqlite", "--group-by", "kind", cwd=tmp_path)
    assert table.returncode == 0 and "must_contain for kind=kb" in table.stdout
    typo = run("eval", "report", first["run_id"], "--store", "runs.sqlite", "--group-by", "knid", cwd=tmp_path)
    assert typo.returncode == 2 and "group_by 'knid': no case has metadata.knid" in typo.stderr

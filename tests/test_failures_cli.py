"""``eval run`` and ``ladder run`` show why cases failed, stop when every case would fail, and exit non-zero.

Real components in a subprocess, as a user runs them: the fake OpenAI server answering 401
to a wrong key, a missing key, a local model path that does not exist, and the local
plugin's tiny model with a prompt longer than its context.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")
SECRET = "sk-test-failures-0123456789abcdef"
WRONG = "sk-test-wrong-key-fedcba9876543210"

LADDER = """
rungs = ["zero_shot", "few_shot"]
concurrency = 2

[dataset]
train = "data/train.jsonl"
dev = "data/dev.jsonl"
test = "data/test.jsonl"

[target]
metric = "token_f1"
threshold = 0.9

[models]
base = "{model}"
"""


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env={**os.environ, **(env or {})}
    )


def write_cases(path: Path, n: int, *, long: bool = False) -> None:
    rows = [{"id": f"q{i}", "input": f"What is the refund window {i}?", "reference": "Thirty days."} for i in range(n)]
    if long:
        rows.append({"id": "too-long", "input": "word " * 3000, "reference": "x"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_ladder(folder: Path, model: str) -> None:
    data = folder / "data"
    data.mkdir()
    for split, n in (("train", 6), ("dev", 3), ("test", 8)):
        write_cases(data / f"{split}.jsonl", n)
    (folder / "ladder.toml").write_text(LADDER.format(model=model))


def assert_clean(stderr: str) -> None:
    """No traceback, no key, no source line of a warning, no progress bar."""
    assert "Traceback" not in stderr and SECRET not in stderr and WRONG not in stderr
    assert "warnings.warn" not in stderr and "Loading weights" not in stderr and "[transformers]" not in stderr


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    from tunewise_openai.fake import run_fake_openai

    with run_fake_openai(api_key=SECRET) as server:
        yield server.base_url


@pytest.fixture
def wrong_key(tmp_path: Path, fake_url: str) -> dict[str, str]:
    """Settings whose ``fake`` profile reaches the fake server with a key it rejects (401)."""
    settings = tmp_path / "tunewise.toml"
    settings.write_text(
        f'[profiles.fake]\nplugin = "openai"\nbase_url = "{fake_url}"\napi_key = "{WRONG}"\n'
        "options = {max_retries = 0}\n\n"
        f'[profiles.nokey]\nplugin = "openai"\nbase_url = "{fake_url}"\napi_key_env = "TUNEWISE_TEST_UNSET_KEY"\n'
    )
    return {"TUNEWISE_CONFIG": str(settings)}


def test_eval_run_stops_at_a_rejected_key_and_says_why(tmp_path: Path, wrong_key: dict[str, str]) -> None:
    write_cases(tmp_path / "cases.jsonl", 30)
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\nconcurrency = 2\n'
        '[[strategies]]\ntype = "zero_shot"\nname = "z"\nmodel = "fake:gpt-4o-mini"\n'
    )
    shown = run("eval", "run", "eval.toml", "--no-progress", cwd=tmp_path, env=wrong_key)
    assert shown.returncode == 1, shown.stderr
    assert "0 ok, " in shown.stdout
    lines = shown.stderr.splitlines()
    assert lines[0].startswith("stopped early: fake: ") and "(status 401" in lines[0]
    assert "cases not run, since every one would fail alike" in lines[0]
    assert lines[1].endswith("cases failed; by cause:")
    assert lines[2].startswith("  ") and " x fake: " in lines[2] and lines[2].endswith("(status 401)")
    assert lines[3].startswith("      e.g. z / q")
    assert_clean(shown.stderr)

    again = run("eval", "run", "eval.toml", "--json", cwd=tmp_path, env=wrong_key)
    assert again.returncode == 1, again.stderr
    data = json.loads(again.stdout)
    assert 1 <= data["ran"] <= 2 and data["errors"] == data["ran"] and data["not_run"] == 30 - data["ran"]
    assert "status 401" in data["stopped"]
    (cause,) = data["causes"]
    assert cause["count"] == data["errors"] and cause["strategy"] == "z" and cause["case_id"].startswith("q")
    assert "request id" not in cause["cause"]


def test_eval_run_with_a_missing_key_names_it(tmp_path: Path, wrong_key: dict[str, str]) -> None:
    write_cases(tmp_path / "cases.jsonl", 5)
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\n'
        '[[strategies]]\ntype = "zero_shot"\nmodel = "nokey:gpt-4o-mini"\n'
    )
    shown = run("eval", "run", "eval.toml", "--no-progress", cwd=tmp_path, env=wrong_key)
    assert shown.returncode == 1, shown.stderr
    assert "MissingAPIKeyError: " in shown.stderr and "TUNEWISE_TEST_UNSET_KEY" in shown.stderr
    assert_clean(shown.stderr)


def test_ladder_run_stops_at_a_failed_rung_instead_of_scoring_it(tmp_path: Path, wrong_key: dict[str, str]) -> None:
    write_ladder(tmp_path, "fake:gpt-4o-mini")
    shown = run("ladder", "run", "ladder.toml", "--no-progress", cwd=tmp_path, env=wrong_key)
    assert shown.returncode == 1, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "Decision: stopped: zero_shot failed: fake: " in text and "(status 401)" in text
    assert "stronger base model" not in text and "0.000" not in text
    assert "│ few_shot " in shown.stdout and "not run: the ladder" in shown.stdout  # a table cell, wrapped
    assert shown.stderr.splitlines()[0].startswith("stopped: zero_shot failed: fake: ")
    assert_clean(shown.stderr)
    report = (tmp_path / "ladder-out" / "report.md").read_text()
    assert "**Decision:** stopped: zero_shot failed: " in report and "## Errors" in report
    assert "stronger base model" not in report
    assert "| zero_shot | | | | failed: 2 of 8 test cases errored, the rest not run |" in report
    assert "| few_shot | | | | not run: the ladder stopped when zero_shot failed |" in report

    again = run("ladder", "run", "ladder.toml", "--json", cwd=tmp_path, env=wrong_key)
    assert again.returncode == 1, again.stderr
    data = json.loads(again.stdout)
    assert data["rungs"] == {} and data["failure"]["rung"] == "zero_shot"
    assert data["failure"]["stopped_early"] and "status 401" in data["failure"]["cause"]
    assert data["recommendation"]["chosen"] is None and data["recommendation"]["failure"].startswith("zero_shot failed")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("nokey:gpt-4o-mini", "models.base (nokey:gpt-4o-mini): "),
        ("nosuch:model", "models.base (nosuch:model): no provider plugin for prefix 'nosuch'"),
    ],
)
def test_ladder_run_refuses_a_model_no_call_could_reach_before_any_rung(
    tmp_path: Path, wrong_key: dict[str, str], model: str, message: str
) -> None:
    write_ladder(tmp_path, "scripted:echo")
    refused = run("ladder", "run", "ladder.toml", "--model", model, cwd=tmp_path, env=wrong_key)
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert line.startswith("error: ") and "ladder.toml: " in line and message in line
    assert not (tmp_path / "ladder-out").exists()  # nothing written for a typo


def test_ladder_run_batch_refuses_a_provider_without_batches_before_any_rung(tmp_path: Path) -> None:
    write_ladder(tmp_path, "scripted:echo")
    refused = run("ladder", "run", "ladder.toml", "--batch", cwd=tmp_path)
    assert refused.returncode == 2
    (line,) = refused.stderr.splitlines()
    assert line.startswith("error: ") and "ladder.toml: models.base (scripted:echo): " in line
    assert "does not support batches" in line
    assert not (tmp_path / "ladder-out").exists()  # refused before anything was written


@pytest.mark.slow
def test_ladder_run_on_a_local_model_that_does_not_exist(tmp_path: Path) -> None:
    pytest.importorskip("tunewise_local")
    write_ladder(tmp_path, "scripted:echo")
    shown = run("ladder", "run", "ladder.toml", "--model", "local:/does/not/exist", "--no-progress", cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    text = " ".join(shown.stdout.split())
    assert "Decision: stopped: zero_shot failed: local: model directory /does/not/exist does not exist" in text
    assert "stronger base model" not in text
    assert_clean(shown.stderr)


@pytest.mark.slow
def test_a_prompt_longer_than_the_context_fails_its_case_and_warnings_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("tunewise_local.tiny")
    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    tiny = build_tiny_model(tmp_path / "tiny", list(DEFAULT_CORPUS[:8]), pretrain_steps=2, seed=0)
    write_cases(tmp_path / "cases.jsonl", 3, long=True)
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\nconcurrency = 2\n'
        '[[strategies]]\ntype = "zero_shot"\nname = "echo"\nmodel = "scripted:echo"\n'
        f'[[strategies]]\ntype = "zero_shot"\nname = "tiny"\nmodel = "local:{tiny}"\nmax_tokens = 2\n'
    )
    shown = run("eval", "run", "eval.toml", "--json", cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert shown.returncode == 1, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["ok"], data["errors"], data["stopped"]) == (7, 1, None)  # the run went on past the long prompt
    (cause,) = data["causes"]
    assert (cause["strategy"], cause["case_id"]) == ("tiny", "too-long")
    assert cause["cause"] == "local: the prompt is N tokens; " + str(tiny) + " takes at most N"
    lines = shown.stderr.splitlines()
    warned = [line for line in lines if line.startswith("warning: ")]
    assert warned == [
        "warning: no price known for 'scripted:echo'; its cost is unknown. Add it to tunewise.toml as "
        '[prices."scripted:echo"] with input and output in USD per 1M tokens (UnknownPriceWarning)'
    ]
    assert lines[-3:] == [
        "1 of 8 cases failed; by cause:",
        f"  1 x local: the prompt is N tokens; {tiny} takes at most N",
        f"      e.g. tiny / too-long: {cause['example']}",
    ]
    assert len(lines) == 4, lines  # the warning and the causes: no bars, no advisories, no source lines
    assert_clean(shown.stderr)


def test_verbose_warnings_say_where_they_came_from(tmp_path: Path) -> None:
    write_cases(tmp_path / "cases.jsonl", 2)
    (tmp_path / "eval.toml").write_text(
        'cases = "cases.jsonl"\nstore = "runs.sqlite"\n[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n'
    )
    quiet = run("eval", "run", "eval.toml", "--no-progress", cwd=tmp_path)
    loud = run("-v", "eval", "run", "eval.toml", "--no-progress", "--run-id", "again", cwd=tmp_path)
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    (short,) = quiet.stderr.splitlines()
    (located,) = loud.stderr.splitlines()
    assert short.startswith("warning: no price known for 'scripted:echo'") and short.endswith("(UnknownPriceWarning)")
    assert located.startswith(short.removesuffix(")") + " at ") and ".py:" in located


@pytest.mark.parametrize("verbose", [False, True])
def test_bars_drawn_with_tqdm_directly_are_quiet_unless_verbose(verbose: bool) -> None:
    """transformers draws "Converting and de-quantizing GGUF tensors" with plain tqdm, not its own switch."""
    script = (
        "import sys\n"
        "from tunewise.cli._console import setup_console\n"
        f"setup_console(verbose={verbose})\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(3), desc='Converting and de-quantizing GGUF tensors...', file=sys.stderr): pass\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert ("GGUF tensors" in shown.stderr) is verbose

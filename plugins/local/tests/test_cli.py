"""``tunewise local ...`` end to end: build a tiny model, train it, list, inspect, merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunewise.cli import app


@pytest.mark.slow
def test_tiny_train_jobs_status_merge(tmp_path: Path) -> None:
    runner = CliRunner()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Refunds take thirty days.\nReset your password in Settings.\n")
    built = runner.invoke(app, ["local", "tiny", str(tmp_path / "m"), "--corpus", str(corpus), "--vocab-size", "300"])
    assert built.exit_code == 0, built.output
    model_dir = tmp_path / "m"
    assert built.output.strip() == f"local:{model_dir.resolve()}"

    data = tmp_path / "train.jsonl"
    rows = [
        [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "Thirty days."}]
        for i in range(6)
    ]
    data.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    args = ["local", "train", str(model_dir), str(data), "--epochs", "1", "--batch-size", "2", "--quiet"]
    trained = runner.invoke(app, [*args, "-o", "worker=thread", "-o", "lora_r=4", "-o", "validation_split=0"])
    assert trained.exit_code == 0, trained.output
    lines = trained.output.strip().splitlines()
    job_id = lines[0].removeprefix("job ")
    assert lines[-1].startswith(f"local:{model_dir.resolve()}+")
    assert any("Training finished" in line for line in lines)
    assert not any(line.startswith("Step ") and "training loss" in line for line in lines), "--quiet hides steps"

    listed = runner.invoke(app, ["local", "jobs"])
    assert listed.exit_code == 0 and job_id in listed.output and "succeeded" in listed.output
    status = runner.invoke(app, ["local", "status", job_id])
    assert status.exit_code == 0 and "succeeded" in status.output

    adapter = lines[-1].partition("+")[2]
    merged = runner.invoke(app, ["local", "merge", str(model_dir), adapter, str(tmp_path / "merged")])
    assert merged.exit_code == 0, merged.output
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "merged" / "tunewise_finetune.json").read_text())["merged_from"]["adapter"]


def test_bad_option_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{}\n")
    result = CliRunner().invoke(app, ["local", "train", str(tmp_path), str(tmp_path / "x.jsonl"), "-o", "lora_r"])
    assert result.exit_code != 0
    assert "KEY=VALUE" in str(result.exception)


def test_bad_spec_value_names_the_flag(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{}\n")
    result = CliRunner().invoke(app, ["local", "train", str(tmp_path), str(tmp_path / "x.jsonl"), "--epochs", "99"])
    assert result.exit_code != 0
    assert str(result.exception).startswith("--epochs: ")

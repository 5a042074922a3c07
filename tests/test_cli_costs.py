"""``tunewise breakeven``, ``tunewise cost`` and ``tunewise prices`` through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")
BLOG = ["--tokens-saved", "500", "--requests-per-month", "100000", "--price-per-1k", "0.002", "--finetune-cost", "50"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


def test_breakeven_blog_example_json() -> None:
    result = run("breakeven", *BLOG, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["monthly_savings"] == 100.0
    assert data["payback_days"] == pytest.approx(15, abs=0.5)
    assert data["pays_back"] is True
    assert data["break_even_requests_per_month"] == pytest.approx(4166.67, abs=0.01)


def test_breakeven_human_output_is_a_paragraph_and_a_table() -> None:
    result = run("breakeven", *BLOG)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert out.startswith("A fine-tuned request costs $0.001000 less than a prompt-heavy one")
    assert "saves $100.00 a month" in out and "pays back in 15.2 days" in out
    assert "Prompt-heavy vs fine-tuned" in out and "15.2 days" in out


def test_breakeven_with_zero_and_negative_savings_says_never() -> None:
    zero = run("breakeven", "--tokens-saved", "0", *BLOG[2:])
    assert zero.returncode == 0, zero.stderr
    assert "never" in zero.stdout
    worse = run("breakeven", *BLOG, "--prompt-tokens", "600", "--finetuned-price-per-1k", "0.02", "--json")
    # 600 x 0.002/1K = 0.0012 vs 100 x 0.02/1K = 0.002: 0.0008 more per request, -80.00 a month.
    data = json.loads(worse.stdout)
    assert data["monthly_savings"] == pytest.approx(-80.0)
    assert data["payback_days"] is None and data["break_even_requests_per_month"] is None


def test_breakeven_hosting_per_hour() -> None:
    # 100.00 saved a month - 0.20/hour x 730 hours = 100 - 146 = -46.00: never pays back at this volume.
    result = run("breakeven", *BLOG, "--hosting-per-hour", "0.2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hosting_per_month"] == pytest.approx(146.0) and data["monthly_savings"] == pytest.approx(-46.0)
    assert data["payback_days"] is None
    # It pays from (146 + 50 / 12) / 0.001 = 150,167 requests a month.
    assert data["break_even_requests_per_month"] == pytest.approx(150_166.67, abs=0.01)


def test_breakeven_from_the_catalog() -> None:
    # gpt-4o-mini, 1500 -> 300 prompt tokens, 100 completion tokens, 1M requests a month:
    # 0.000285 - 0.00021 = 0.000075 saved per request = 75.00 a month;
    # training 200,000 x 3 x 3.00/1M = 1.80.
    result = run(
        "breakeven",
        "--model",
        "openai:gpt-4o-mini",
        "--prompt-tokens",
        "1500",
        "--tokens-saved",
        "1200",
        "--completion-tokens",
        "100",
        "--requests-per-month",
        "1000000",
        "--training-tokens",
        "200000",
        "--epochs",
        "3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["monthly_savings"] == pytest.approx(75.0)
    assert data["training_cost"] == pytest.approx(1.8)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tokens-saved", "-5", *BLOG[2:]], "error: --tokens-saved must be a number >= 0, got -5"),
        (BLOG[:6], "error: give --finetune-cost"),
        (BLOG[:2] + BLOG[4:], "error: --requests-per-month is required"),
        ([*BLOG, "--hosting-per-hour", "1", "--hosting-per-month", "2"], "error: give --hosting-per-month or"),
        ([*BLOG, "--prompt-tokens", "100"], "error: --tokens-saved (500) exceeds --prompt-tokens (100)"),
        ([*BLOG, "--finetuned-price-per-1k", "0.004"], "error: a different fine-tuned price needs --prompt-tokens"),
        (["--model", "ollama:llama3.2", "--prompt-tokens", "900", *BLOG[:4]], "error: no price known for"),
    ],
)
def test_breakeven_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = run("breakeven", *args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_cost_command_json_and_table() -> None:
    args = ["--model", "openai:gpt-4o-mini", "--prompt-tokens", "1000", "--completion-tokens", "300"]
    args += ["--cached-tokens", "200", "--requests-per-month", "100000"]
    result = run("cost", *args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # 800 x 0.15/1M + 200 x 0.075/1M + 300 x 0.60/1M = 0.000315; x 100,000 = 31.50
    assert data["per_request"] == pytest.approx(0.000315)
    assert data["per_month"] == pytest.approx(31.5)
    assert data["as_of"] == "2026-11-25" and data["source"].startswith("https://")
    table = run("cost", *args, "--batch")
    assert table.returncode == 0, table.stderr
    assert "$15.75" in table.stdout and "is priced at openai:gpt-4o-mini" in table.stdout


def test_cost_of_unknown_model_is_one_line_error() -> None:
    result = run("cost", "--model", "ollama:qwen2.5", "--prompt-tokens", "10")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no price known for 'ollama:qwen2.5'")


def test_cost_of_a_local_model_is_compute_time_at_the_device_rate() -> None:
    result = run("cost", "--model", "local:/models/qwen", "--prompt-tokens", "10")
    assert result.returncode == 2
    assert result.stderr == "error: local:/models/qwen is priced by compute time (local:*): give --compute-seconds\n"
    result = run(
        "cost",
        "--model",
        "local:/models/qwen",
        "--prompt-tokens",
        "300",
        "--completion-tokens",
        "60",
        "--compute-seconds",
        "0.5",
        "--requests-per-month",
        "100000",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    # 0.5 s of a 2-vCPU machine at $0.0816/h; per month x 100k requests
    assert data["per_request"] == pytest.approx(0.5 * 0.0816 / 3600)
    assert data["per_month"] == pytest.approx(0.5 * 0.0816 / 3600 * 100_000)
    assert data["breakdown"]["compute"] == pytest.approx(data["per_request"])
    gpu = run(
        "cost",
        "--model",
        "local:/models/qwen",
        "--prompt-tokens",
        "300",
        "--compute-seconds",
        "0.5",
        "--device",
        "NVIDIA H100 80GB HBM3",
        "--json",
    )
    assert json.loads(gpu.stdout)["per_request"] == pytest.approx(0.5 * 3.50 / 3600)
    assert result.stderr.strip().count("\n") == 0


def test_prices_lists_dated_sourced_entries_and_resolves_a_fine_tune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = json.loads(run("prices", "--json").stdout)
    mini = next(e for e in listing if e["model"] == "gpt-4o-mini")
    assert mini["as_of"] == "2026-11-25" and mini["source"] == "https://platform.openai.com/docs/pricing"
    assert mini["finetune_training"] == 3.0
    one = json.loads(run("prices", "openai:ft:gpt-4o-mini-2024-07-18:acme::x1", "--json").stdout)
    assert one["fine_tuned"] is True and one["rates"] == {"input": 0.3, "cached_input": 0.15, "output": 1.2}
    human = run("prices", "openai:gpt-4o-mini-2024-07-18")
    assert "openai:gpt-4o-mini also prices: gpt-4o-mini-2024-07-18" in human.stdout
    config = tmp_path / "tunewise.toml"
    config.write_text('[prices."ollama:llama3.2"]\ninput = 0\noutput = 0\n')
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    overridden = json.loads(run("prices", "ollama:llama3.2", "--json").stdout)
    assert overridden["entry"]["source"] == str(config)
    assert overridden["rates"] == {"input": 0.0, "output": 0.0}

"""docs/costs.md runs as written: its Python, its TOML, its commands and its price table."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tunewise import Usage, load_settings
from tunewise.costs import builtin_entries, cost_of, load_catalog, quote

DOC = Path(__file__).resolve().parents[1] / "docs" / "costs.md"
CLI = shutil.which("tunewise") or str(Path(sys.executable).parent / "tunewise")


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_python_blocks_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = blocks("python")
    assert len(code) >= 3
    for block in code:
        exec(compile(block, str(DOC), "exec"), {})
    assert "pays back in" in capsys.readouterr().out


def test_toml_block_is_a_valid_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (toml,) = blocks("toml")
    config = tmp_path / "tunewise.toml"
    config.write_text(toml)
    monkeypatch.setenv("TUNEWISE_CONFIG", str(config))
    catalog = load_catalog(load_settings())
    mini = catalog.quote("openai:gpt-4o-mini")
    assert mini is not None and mini.rates.input == 0.12 and mini.rates.output == 0.60
    assert cost_of("ollama:llama3.2", Usage(prompt_tokens=5, completion_tokens=5)) == 0.0
    vllm = catalog.quote("vllm:Qwen/Qwen2.5-7B-Instruct")
    assert vllm is not None and vllm.entry.source == "our GPU invoice, October"


@pytest.mark.slow
def test_commands_run() -> None:
    commands = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("tunewise ")]
    assert len(commands) >= 6
    for command in commands:
        result = subprocess.run([CLI, *shlex.split(command)[1:]], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{command}: {result.stderr}"


def test_price_table_matches_the_shipped_catalog() -> None:
    rows = re.findall(r"^\| (openai:\S+) \| (.*) \|$", DOC.read_text(), flags=re.M)
    documented = {ref: [cell.strip() for cell in cells.split("|")] for ref, cells in rows if len(cells.split("|")) == 7}
    shipped = {e.ref: e for e in builtin_entries()}
    assert set(documented) == set(shipped)

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}" if round(value, 2) == value else f"{value:g}"

    for ref, cells in documented.items():
        e = shipped[ref]
        training = cell(e.finetune_training)
        if e.finetune_training_per_hour is not None:
            training = f"{e.finetune_training_per_hour:.2f}/hour"
        expected = [
            cell(e.input),
            cell(e.cached_input),
            cell(e.output),
            training,
            cell(e.finetune_input),
            cell(e.finetune_cached_input),
            cell(e.finetune_output),
        ]
        assert cells == expected, ref
        assert e.batch_discount == 0.5


def test_reference_lookup_table_is_true() -> None:
    fine = quote("openai:ft:gpt-4o-mini-2024-07-18:acme::9xYz")
    assert fine is not None and fine.fine_tuned and fine.entry.ref == "openai:gpt-4o-mini"
    assert quote("openai:gpt-4.1-mini-2031-01-01") is not None
    assert quote("lab:gpt-4o-mini") is None

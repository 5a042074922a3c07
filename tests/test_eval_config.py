"""The evaluation TOML is checked by a pydantic model: the same keys as ever, one-line errors naming file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise import ConfigError
from tunewise.evaluation import EvalFile, load_config

STRATEGY = '[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n'


def write(folder: Path, top: str = "", strategies: str = STRATEGY) -> Path:
    (folder / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "hi", "reference": "hi"}) + "\n")
    config = folder / "eval.toml"
    config.write_text(f'cases = "cases.jsonl"\n{top}\n{strategies}')
    return config


def test_every_documented_key_is_accepted_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    top = (
        'store = "out/runs.sqlite"\nrun_id = "v1"\nconcurrency = 3\ntimeout = 60\nbudget = 5\n'
        'cache = "cache.sqlite"\nmetrics = ["exact_match", {type = "regex", pattern = "hi"}]\ngroup_by = "kind"\n'
        'prices = {"scripted:echo" = {input = 1.0, output = 2.0}}\nretries = 0\n'
        'retrievers = {kb = {type = "memory", documents = "docs.jsonl"}}\n'
    )
    (tmp_path / "docs.jsonl").write_text(json.dumps({"id": "d1", "text": "hello", "source": "d1"}) + "\n")
    cfg = load_config(write(tmp_path, top))
    assert (cfg.cases, cfg.store, cfg.cache) == (
        tmp_path / "cases.jsonl",
        tmp_path / "out" / "runs.sqlite",
        tmp_path / "cache.sqlite",
    )
    assert (cfg.run_id, cfg.concurrency, cfg.timeout, cfg.budget, cfg.group_by) == ("v1", 3, 60.0, 5.0, "kind")
    assert [m.name for m in cfg.metrics] == ["exact_match", "regex"]
    assert isinstance(cfg.file, EvalFile) and cfg.file.retrievers["kb"]["type"] == "memory"
    assert cfg.raw["metrics"][1] == {"type": "regex", "pattern": "hi"}  # the run id is still a hash of the file


def test_defaults(tmp_path: Path, isolated_settings: Path) -> None:
    cfg = load_config(write(tmp_path))
    assert (cfg.concurrency, cfg.timeout, cfg.budget, cfg.cache, cfg.run_id) == (8, None, None, None, None)
    assert cfg.store == isolated_settings / "runs.sqlite"
    assert [m.name for m in cfg.metrics] == ["exact_match"]


@pytest.mark.parametrize(
    ("top", "strategies", "message"),
    [
        ("concurrency = 0", STRATEGY, "eval.toml: concurrency: Input should be greater than or equal to 1"),
        ("concurrency = 8.0", STRATEGY, "eval.toml: concurrency: Input should be a valid integer"),
        ("concurrency = true", STRATEGY, "eval.toml: concurrency: Input should be a valid integer"),
        ("timeout = inf", STRATEGY, "eval.toml: timeout: Input should be a finite number"),
        ('budget = "5"', STRATEGY, "eval.toml: budget: Input should be a valid number"),
        ("budget = 0", STRATEGY, "eval.toml: budget: Input should be greater than 0"),
        ("retries = -1", STRATEGY, "eval.toml: retries: Input should be greater than or equal to 0"),
        ('group_by = ""', STRATEGY, "eval.toml: group_by: String should have at least 1 character"),
        ("store = 5", STRATEGY, "eval.toml: store: Input should be a valid string"),
        ("metrics = []", STRATEGY, "eval.toml: metrics: List should have at least 1 item after validation, not 0"),
        ('metrics = ["nope"]', STRATEGY, "eval.toml: metrics[0]: metric 'nope': type must be one of"),
        ("retrievers = 3", STRATEGY, "eval.toml: retrievers: must be a table of name = {type = 'memory', ...}"),
        ('prices = {}\ncost = "m:f"', STRATEGY, "eval.toml: give prices or cost, not both"),
        ("", "", "eval.toml: strategies: needs at least one [[strategies]] table"),
        ("metric = 1\nconcurency = 2", STRATEGY, "eval.toml: unknown keys ['concurency', 'metric']; allowed: "),
        ("cases =", STRATEGY, "eval.toml: Invalid value (at line 2, column 8)"),
    ],
)
def test_bad_keys_are_one_line_errors_naming_file_and_key(
    tmp_path: Path, top: str, strategies: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, top, strategies))
    text = str(info.value)
    assert "\n" not in text
    assert text.removeprefix(str(tmp_path) + "/").startswith(message)


def test_a_missing_file_or_cases_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: no such file$"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "eval.toml").write_text(STRATEGY)
    with pytest.raises(ConfigError, match=r"eval\.toml: cases: give cases = 'FILE.jsonl'$"):
        load_config(tmp_path / "eval.toml")

"""Evaluation prices come from the catalog: the default cost function is ``tunewise.costs.cost_of``, and a
config's ``prices`` table is laid over the catalog (one price mechanism)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise import ConfigError, Usage
from tunewise.costs import UnknownPriceWarning
from tunewise.evaluation import PriceTable, load_config

USAGE = Usage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=0)


def write(folder: Path, extra: str = "") -> Path:
    (folder / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "hi", "reference": "hi"}) + "\n")
    config = folder / "eval.toml"
    config.write_text(f'cases = "cases.jsonl"\n{extra}\n[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n')
    return config


def test_without_prices_the_catalog_and_settings_price_the_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(write(tmp_path))
    assert cfg.cost is not None
    assert cfg.cost("openai:gpt-4o-mini", USAGE) == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    with pytest.warns(UnknownPriceWarning, match="scripted:echo"):
        assert cfg.cost("scripted:echo", USAGE) is None  # unknown, never 0
    monkeypatch.setenv("TUNEWISE_PRICES", json.dumps({"scripted:echo": {"input": 1.0, "output": 2.0}}))
    assert cfg.cost("scripted:echo", USAGE) == pytest.approx((1000 * 1.0 + 200 * 2.0) / 1e6)


def test_a_budget_works_without_a_prices_table(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "budget = 1.0")).budget == 1.0


def test_config_prices_override_catalog_entries_field_by_field() -> None:
    table = PriceTable({"openai:gpt-4o-mini": {"input": 1.0}, "scripted:echo": {"input": 0.5, "output": 0.5}})
    # output stays the catalog's 0.60; input is overridden
    assert table("openai:gpt-4o-mini", USAGE) == pytest.approx((1000 * 1.0 + 200 * 0.6) / 1e6)
    assert table("scripted:echo", USAGE) == pytest.approx(1200 * 0.5 / 1e6)
    assert table("openai:gpt-4o", USAGE) is not None  # the rest of the catalog still applies


def test_bad_prices_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"eval\.toml: prices\.'scripted:echo'") as info:
        load_config(write(tmp_path, 'prices = {"scripted:echo" = {input = -1, output = 1}}'))
    assert "\n" not in str(info.value)

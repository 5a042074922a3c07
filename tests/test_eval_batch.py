"""Batch evaluation in the core: a provider without batches is refused before anything is sent; options and batch
prices are checked. (The batch runs themselves are tested against the OpenAI plugin's fake server.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunewise import ConfigError, Model, ModelRef, Usage
from tunewise.costs import UnknownPriceWarning, cost_of
from tunewise.evaluation import BatchOptions, Case, PriceTable, RunStore, batch_pricing, evaluate
from tunewise.interfaces.batch import batch_client, is_batchable
from tunewise.retrieval import HashingEmbedder, InMemoryRetriever
from tunewise.strategies import RAG, ZeroShot
from tunewise.testing import ScriptedProvider

USAGE = Usage(prompt_tokens=1000, completion_tokens=200, cached_prompt_tokens=0)


@pytest.mark.anyio
async def test_a_provider_without_batches_is_refused_before_any_call(tmp_path: Path) -> None:
    calls: list[str] = []

    def answer(request: object) -> str:
        calls.append("sent")
        return "hi"

    provider = ScriptedProvider(answer)
    strategy = ZeroShot(Model(ModelRef(prefix="scripted", name="m"), provider), name="zero")
    cases = [Case.of("hello", "hi", id="c1"), Case.of("again", "hi", id="c2")]
    with pytest.raises(ConfigError) as info:
        await evaluate([strategy], cases, store=tmp_path / "runs.sqlite", batch=True)
    assert str(info.value) == (
        "model scripted:m's provider (scripted) does not support batches; run live (without --batch)"
    )
    assert calls == [] and batch_client(provider) is None
    with RunStore(tmp_path / "runs.sqlite") as store:
        assert store.results(store.runs()[0].run_id) == []


def test_every_built_in_strategy_can_batch_its_call() -> None:
    model = Model(ModelRef(prefix="scripted", name="m"), ScriptedProvider(lambda request: "x"))
    assert is_batchable(ZeroShot(model)) and is_batchable(RAG(model, InMemoryRetriever(["doc"], HashingEmbedder())))
    assert not is_batchable(object())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"retry": "twice"}, "batch retry must be one of batch, live, none, got 'twice'"),
        ({"poll_interval": -1}, "batch poll_interval must be 0 or more seconds, got -1"),
        ({"timeout": 0}, "batch timeout must be a positive number of seconds, got 0"),
    ],
)
def test_bad_batch_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        BatchOptions(**options)  # type: ignore[arg-type]


def test_batch_prices_take_the_catalog_discount_or_are_unknown() -> None:
    priced = batch_pricing(cost_of)
    assert priced is not None
    full = cost_of("openai:gpt-4o-mini", USAGE)
    assert full is not None and priced("openai:gpt-4o-mini", USAGE) == pytest.approx(full / 2)
    table = PriceTable({"scripted:m": {"input": 1.0, "output": 2.0}})
    assert table("scripted:m", USAGE) == pytest.approx(1400 / 1e6)
    with pytest.warns(UnknownPriceWarning, match="no batch discount"):
        assert batch_pricing(table)("scripted:m", USAGE) is None  # type: ignore[misc]
    with pytest.warns(UnknownPriceWarning, match="takes no batch= argument"):
        assert batch_pricing(lambda ref, usage: 1.0)("scripted:m", USAGE) is None  # type: ignore[misc]
    assert batch_pricing(None) is None


def test_the_cli_takes_batch_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tunewise.cli._app import run as run_cli

    (tmp_path / "cases.jsonl").write_text(json.dumps({"id": "a", "input": "hi", "reference": "hi"}) + "\n")
    (tmp_path / "eval.toml").write_text(
        f'cases = "cases.jsonl"\nstore = "{tmp_path / "runs.sqlite"}"\n'
        '[[strategies]]\ntype = "zero_shot"\nmodel = "scripted:echo"\n'
    )
    status = run_cli(["eval", "run", str(tmp_path / "eval.toml"), "--batch", "--batch-retry", "live", "--no-progress"])
    assert status == 2
    assert capsys.readouterr().err == (
        "error: model scripted:echo's provider (scripted) does not support batches; run live (without --batch)\n"
    )

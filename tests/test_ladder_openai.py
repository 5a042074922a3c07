"""The ladder over real HTTP: the OpenAI plugin against its fake server (real files, fine-tune jobs, catalog prices)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tunewise.ladder import run_ladder

fake = pytest.importorskip("tunewise_openai.fake")
from tunewise_openai import OpenAIProvider  # noqa: E402

CONFIG = """
rungs = ["zero_shot", "few_shot", "fine_tune"]
requests_per_month = 200000

[dataset]
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"

[target]
# the fake's fine-tuned models answer "Fine-tuned <base> says: ...", its base models "You said: ..."
metric = {type = "regex", name = "tuned", pattern = "^Fine-tuned"}
threshold = 0.8

[budget]
max_dollars = 1.0

[models]
base = "openai:gpt-4o-mini"
fine_tune_base = "openai:gpt-4o-mini-2024-07-18"

[fine_tune]
epochs = 2
poll_interval = 0
"""


@pytest.fixture
def server() -> Iterator[Any]:
    with fake.run_fake_openai() as running:
        yield running


def write_world(tmp_path: Path) -> None:
    for name, n in (("train", 10), ("dev", 4), ("test", 12)):
        rows = [
            {
                "id": f"{name}{i}",
                "messages": [
                    {"role": "user", "content": f"How do I do thing {i}?"},
                    {"role": "assistant", "content": f"Do thing {i} like this."},
                ],
            }
            for i in range(n)
        ]
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ladder.toml").write_text(CONFIG)


@pytest.mark.anyio
async def test_openai_ladder_fine_tunes_for_real_and_prices_every_rung(tmp_path: Path, server: Any) -> None:
    write_world(tmp_path)
    async with OpenAIProvider(base_url=server.base_url, api_key="sk-test", home=tmp_path / "openai-home") as openai:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every model here has a price: no unknown-price warning at all
            outcome = await run_ladder(tmp_path / "ladder.toml", providers={"openai": openai})
    state = outcome.state
    assert [r.status for r in state.results.values()] == ["below_target", "below_target", "passed"]
    assert state.fine_tune is not None and state.fine_tune.job_id.startswith("ftjob-")
    tuned = state.results["fine_tune"]
    assert tuned.model.startswith("openai:ft:gpt-4o-mini-2024-07-18")
    assert tuned.training_cost is not None and tuned.training_cost > 0
    assert state.spent is not None and 0 < state.spent < 1.0 and not state.unknown_prices
    rec = outcome.recommendation()
    assert rec.chosen == "fine_tune"
    zero, ft = rec.costs["zero_shot"], rec.costs["fine_tune"]
    assert zero.per_1k_requests is not None and ft.per_1k_requests is not None
    assert ft.per_1k_requests > zero.per_1k_requests * 1.2  # fine-tuned tokens cost more (and answers are longer)
    assert zero.per_month == pytest.approx(zero.per_1k_requests * 200)
    assert rec.break_even is not None and rec.break_even.monthly_savings < 0  # no prompt saved: it never pays back
    assert rec.break_even.payback_days is None
    html = (outcome.out / "report.html").read_text()
    assert "never pays back" in html and "data:image/png;base64," in html


@pytest.mark.anyio
async def test_a_batched_ladder_measures_every_rung_in_one_batch_at_half_the_answer_price(
    tmp_path: Path, server: Any
) -> None:
    live_dir, batch_dir = tmp_path / "live", tmp_path / "batch"
    outcomes = {}
    for folder, batch in ((live_dir, False), (batch_dir, True)):
        folder.mkdir()
        write_world(folder)
        server.reset()
        async with OpenAIProvider(
            base_url=server.base_url, api_key="sk-test", home=folder / "home", options={"poll_interval": 0}
        ) as openai:
            outcomes[batch] = await run_ladder(folder / "ladder.toml", providers={"openai": openai}, batch=batch)
        stats = server.stats()
        # batched: one batch per rung's test split and no live completion; live: no batch at all
        assert stats["batches"] == (3 if batch else 0)
        assert (stats["requests_by_path"].get("/v1/chat/completions") is None) is batch
    live, batched = outcomes[False].state, outcomes[True].state
    assert [r.status for r in batched.results.values()] == [r.status for r in live.results.values()]
    for rung, result in batched.results.items():
        assert result.mean == live.results[rung].mean
        answers, live_answers = result.cost_per_request, live.results[rung].cost_per_request
        assert answers is not None and live_answers is not None
        assert answers == pytest.approx(live_answers / 2)  # the catalog's batch discount for gpt-4o-mini
    assert batched.results["fine_tune"].training_cost == pytest.approx(live.results["fine_tune"].training_cost)

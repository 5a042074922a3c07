"""Evaluation over the OpenAI plugin and the fake server with 20% injected faults:
1000 cases, every case scored exactly once, priced from the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunewise import Model, ModelRef
from tunewise.costs import cost_of
from tunewise.evaluation import Case, RunStore, evaluate
from tunewise.strategies import ZeroShot
from tunewise_openai.fake import FakeServer

pytestmark = pytest.mark.anyio


@pytest.mark.slow
async def test_1000_cases_at_20_percent_faults_are_each_scored_once(
    provider_factory: Any, fake: FakeServer, tmp_path: Path
) -> None:
    fake.faults.configure(
        rate=0.2, seed=7, kinds=("rate_limit", "server_error", "unavailable", "reset", "malformed"), retry_after_ms=5
    )
    cases = [Case.of(f"question number {i}", f"You said: question number {i}", id=f"c{i:04d}") for i in range(1000)]
    store = RunStore(tmp_path / "runs.sqlite")
    async with provider_factory(max_concurrency=64) as provider:
        strategy = ZeroShot(Model(ModelRef.parse("openai:gpt-4o-mini"), provider), name="zero")
        summary = await evaluate([strategy], cases, ["exact_match"], store=store, concurrency=32, cost=cost_of)
    assert sum(fake.faults.injected.values()) >= 150, "faults really happened"
    assert (summary.ran, summary.ok, summary.errors) == (1000, 1000, 0)
    results = store.results(summary.run_id)
    assert sorted(r.case_id for r in results) == [c.id for c in cases]  # each case once, none lost
    assert all(r.scores["exact_match"] == 1.0 for r in results)
    assert all(r.cost is not None and r.cost > 0 for r in results)  # gpt-4o-mini is in the catalog
    assert summary.cost == pytest.approx(sum(r.cost or 0 for r in results))

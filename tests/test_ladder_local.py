"""A ladder on the local plugin's tiny model that really fine-tunes (LoRA on this CPU): the fine-tune is chosen."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("tunewise_local.tiny")

PAIRS = (
    ("What is the refund window?", "Thirty days, full refund."),
    ("How do I reset my password?", "Settings, Security, Reset password."),
    ("When is support open?", "Monday to Friday, nine to five."),
    ("Do gift cards expire?", "No, gift cards never expire."),
)


@pytest.mark.slow
@pytest.mark.anyio
async def test_tiny_local_model_fine_tunes_and_the_fine_tune_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one thread is fastest for a tiny model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        await _climb(tmp_path, build_tiny_model, DEFAULT_CORPUS)
    finally:
        torch.set_num_threads(threads)


async def _climb(tmp_path: Path, build_tiny_model: Any, corpus: tuple[str, ...]) -> None:
    from tunewise.evaluation import RunStore
    from tunewise.ladder import run_ladder

    model = build_tiny_model(tmp_path / "tiny", [*corpus, *(f"{q} {a}" for q, a in PAIRS)], pretrain_steps=30, seed=0)
    copies = {"train": 3, "dev": 1, "test": 1}
    for split, n in copies.items():
        with (tmp_path / f"{split}.jsonl").open("w") as handle:
            for copy in range(n):
                for i, (q, a) in enumerate(PAIRS):
                    row = {"id": f"{split}-{copy}-{i}", "messages": [{"role": "user", "content": q}], "reference": a}
                    handle.write(json.dumps(row) + "\n")
    (tmp_path / "ladder.toml").write_text(
        f"""
rungs = ["zero_shot", "fine_tune"]
options = {{temperature = 0, max_tokens = 16}}
concurrency = 1

[dataset]
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"

[target]
metric = "token_f1"
threshold = 0.5

[models]
base = "local:{model}"

[fine_tune]
epochs = 30
batch_size = 4
learning_rate = 0.01
poll_interval = 0.05
timeout = 120
seed = 0
options = {{lora_r = 16, lora_alpha = 64, lora_dropout = 0.0, num_threads = 1, worker = "thread"}}
"""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(tmp_path / "ladder.toml")
    state = outcome.state
    assert state.results["zero_shot"].status == "below_target"
    tuned = state.results["fine_tune"]
    with RunStore(outcome.out / "runs.sqlite") as store:
        answers = {r.response for r in store.results(tuned.run_id)}
    assert answers == {a for _, a in PAIRS}  # greedy decoding reproduces what LoRA taught it
    assert tuned.status == "passed", (tuned.mean, tuned.ci_low)
    assert tuned.model.startswith(f"local:{model}+")  # the base model with the trained adapter
    assert outcome.recommendation().chosen == "fine_tune"
    # a local model is priced by its measured compute time: answers and training have a cost, never "unknown"
    costs = outcome.recommendation().costs
    assert all(c.per_1k_requests is not None and c.per_1k_requests > 0 for c in costs.values()), costs
    assert state.results["fine_tune"].compute_s is not None and state.results["fine_tune"].compute_device == "cpu"
    assert state.fine_tune is not None and state.fine_tune.compute_s is not None and state.fine_tune.compute_s > 0
    assert tuned.training_cost == pytest.approx(state.fine_tune.compute_s * 0.0816 / 3600)

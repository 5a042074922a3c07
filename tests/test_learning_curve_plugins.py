"""The learning curve through real plugins: OpenAI's fine-tune jobs on the fake server (real HTTP, real files,
catalog prices), and LoRA on the local plugin's tiny model (real training on this CPU)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from tunewise.ladder import run_ladder

CONFIG = """
rungs = ["zero_shot", "fine_tune"]

[dataset]
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"

[target]
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
learning_curve = true
"""


def chats(name: str, n: int) -> str:
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
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.anyio
async def test_openai_curve_creates_three_jobs_on_nested_files_and_charges_them(tmp_path: Path) -> None:
    fake = pytest.importorskip("tunewise_openai.fake")
    from tunewise_openai import OpenAIProvider

    for name, n in (("train", 40), ("dev", 4), ("test", 12)):
        (tmp_path / f"{name}.jsonl").write_text(chats(name, n))
    (tmp_path / "ladder.toml").write_text(CONFIG)
    with fake.run_fake_openai() as server:
        async with OpenAIProvider(base_url=server.base_url, api_key="sk-test", home=tmp_path / "home") as openai:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # every model has a price, the subsets' fine-tunes too
                outcome = await run_ladder(tmp_path / "ladder.toml", providers={"openai": openai})
        auth = {"Authorization": "Bearer sk-test"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=auth) as http:
            listed = (await http.get("/fine_tuning/jobs")).json()["data"]
            jobs = sorted(listed, key=lambda j: j["created_at"])
            files = [(await http.get(f"/files/{j['training_file']}/content")).text.splitlines() for j in jobs]
    assert len(jobs) == 3 and all(j["status"] == "succeeded" for j in jobs)
    assert sorted(len(f) for f in files) == [10, 20, 40]
    quarter, half, full = sorted((set(f) for f in files), key=len)
    assert quarter < half < full  # nested
    assert {j["hyperparameters"]["n_epochs"] for j in jobs} == {2}
    state = outcome.state
    curve = state.learning_curve
    assert curve is not None and curve.fit is not None and curve.fit.sizes == [10, 20, 40]
    runs = [p for p in curve.points if p.fraction < 1]
    assert all(p.training_cost is not None and p.training_cost > 0 for p in runs)
    assert runs[0].training_cost < runs[1].training_cost < curve.points[-1].training_cost  # type: ignore[operator]
    tuned = state.results["fine_tune"]
    assert tuned.spent is not None and tuned.training_cost is not None
    curve_spent = sum(p.spent or 0.0 for p in runs)
    assert tuned.spent > tuned.training_cost + curve_spent  # the rung paid its job, its answers and the curve's runs
    assert state.spent == pytest.approx(state.results["zero_shot"].spent + tuned.spent)  # type: ignore[operator]
    # every fine-tune answers "Fine-tuned ...": the curve is flat at the top, and the report says so
    assert curve.fit.flat and curve.fit.means == [1.0, 1.0, 1.0]
    assert any("more data is unlikely to help" in r for r in outcome.recommendation().reasons)


PAIRS = (
    ("What is the refund window?", "Thirty days, full refund."),
    ("How do I reset my password?", "Settings, Security, Reset password."),
    ("When is support open?", "Monday to Friday, nine to five."),
    ("Do gift cards expire?", "No, gift cards never expire."),
)


@pytest.mark.anyio
async def test_local_curve_trains_the_tiny_model_on_half_and_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tunewise_local.tiny")
    import torch

    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_tiny_model(tmp_path / "tiny", [*DEFAULT_CORPUS, *(f"{q} {a}" for q, a in PAIRS)], seed=0)
        await _local_curve(tmp_path, model)
    finally:
        torch.set_num_threads(threads)


async def _local_curve(tmp_path: Path, model: Any) -> None:
    for split, copies in (("train", 3), ("dev", 1), ("test", 1)):
        rows = [
            {"id": f"{split}-{c}-{i}", "messages": [{"role": "user", "content": q}], "reference": a}
            for c in range(copies)
            for i, (q, a) in enumerate(PAIRS)
        ]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "ladder.toml").write_text(
        f"""
rungs = ["fine_tune"]
options = {{temperature = 0, max_tokens = 8}}
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
epochs = 2
batch_size = 4
learning_rate = 0.01
poll_interval = 0.05
timeout = 120
seed = 0
learning_curve = [0.5, 1.0]
options = {{lora_r = 4, lora_alpha = 8, lora_dropout = 0.0, num_threads = 1, worker = "thread"}}
"""
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = await run_ladder(tmp_path / "ladder.toml")
    curve = outcome.state.learning_curve
    assert curve is not None and curve.skipped is None and curve.fit is not None
    half, full = curve.points
    assert (half.examples, full.examples) == (6, 12) and half.done
    assert half.job is not None and half.job.model is not None and half.job.model.startswith(f"local:{model}+")
    assert half.job.compute_s is not None and half.job.compute_s > 0  # measured on this CPU
    assert half.training_cost == pytest.approx(half.job.compute_s * 0.0816 / 3600)  # priced as the rung's training
    assert curve.fit.exponent_fixed and len(curve.fit.projections) == 2
    assert (outcome.out / "fine_tune_50pct_train.jsonl").read_text().count("\n") == 6
    assert "## Learning curve" in (outcome.out / "report.md").read_text()

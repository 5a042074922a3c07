"""Ladder overhead: a whole climb against the same evaluations run by hand, and the cost of resuming.

Timed in the same process, interleaved round by round so machine noise hits all alike:

- ``direct``: what the ladder's rungs do, called by hand: ``evaluate`` of zero-shot, of
  few-shot, a scripted fine-tune job started and waited for, ``evaluate`` of the fine-tuned
  model, all into one run store, with the runner settings the ladder uses (60 s timeout per
  case, 2 retries, ``tunewise.costs.cost_of`` pricing every call);
- ``ladder``: ``run_ladder`` over the same data and rungs (config parsing, cost estimates
  before each rung, state file written after each step, confidence intervals, the
  recommendation, and the Markdown + HTML reports with the chart);
- ``no_report``: the same ladder with ``report=False`` (the chart is most of the rest);
- ``resume``: ``run_ladder`` again on the finished output folder (every rung read back).

    .venv/bin/python bench/ladder_overhead.py [--cases 200] [--latency 0.01] [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import anyio

from tunewise import Model, ModelRef
from tunewise.costs import cost_of
from tunewise.evaluation import RunStore, evaluate, load_cases
from tunewise.interfaces.finetune import FineTuneSpec
from tunewise.ladder import run_ladder
from tunewise.strategies import FewShot, FineTuned, ZeroShot
from tunewise.testing import HashingEmbedder

spec = importlib.util.spec_from_file_location("ladder_world", Path(__file__).parents[1] / "tests" / "ladder_world.py")
assert spec is not None and spec.loader is not None
world = importlib.util.module_from_spec(spec)
sys.modules["ladder_world"] = world
spec.loader.exec_module(world)

SETTINGS: dict[str, Any] = {"concurrency": 16, "timeout": 60.0, "retries": 2, "cost": cost_of}
RUNGS = 'rungs = ["zero_shot", "few_shot", "fine_tune"]'


def setup(folder: Path, cases: int) -> Path:
    config = world.write_world(folder, test=cases)
    text = config.read_text().replace(
        'rungs = ["zero_shot", "few_shot", "optimized_prompt", "fine_tune", "rag_fine_tuned"]', RUNGS
    )
    config.write_text(
        text.replace("concurrency = 4", "concurrency = 16").replace("poll_interval = 0.02", "poll_interval = 0")
    )
    return config


async def direct(folder: Path, latency: float) -> None:
    provider = world.WorldProvider(world.World(), folder / "jobs-direct.json")
    provider.latency = latency
    base = Model(ModelRef.parse("scripted:base"), provider)
    train, test = load_cases(folder / "train.jsonl"), load_cases(folder / "test.jsonl")
    examples = [{"input": c.question, "output": c.reference} for c in train]
    with RunStore(folder / "direct.sqlite") as store:
        for strategy in (
            ZeroShot(base, name="zero_shot"),
            FewShot(
                base,
                examples,
                k=4,
                embedder=HashingEmbedder(),
                system="Answer with the item code only.",
                name="few_shot",
            ),
        ):
            await evaluate([strategy], test, ["exact_match"], store=store, **SETTINGS)
        training = folder / "direct-train.jsonl"
        training.write_text((folder / "train.jsonl").read_text())
        job = await provider.fine_tuner().start(FineTuneSpec(base_model="base", training_file=training, n_epochs=2))
        tuned = await job.wait(poll_interval=0)
        await evaluate(
            [FineTuned(Model(tuned, provider), name="fine_tune")], test, ["exact_match"], store=store, **SETTINGS
        )


async def ladder(config: Path, out: Path, latency: float, report: bool = True) -> None:
    provider = world.WorldProvider(world.World(), out.parent / f"jobs-{out.name}.json")
    provider.latency = latency
    await run_ladder(config, out=out, providers={"scripted": provider}, report=report)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    times: dict[str, list[float]] = {"direct": [], "no_report": [], "ladder": [], "resume": []}
    for round_no in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = setup(folder, args.cases)
            started = time.perf_counter()
            anyio.run(direct, folder, args.latency)
            times["direct"].append(time.perf_counter() - started)
            started = time.perf_counter()
            anyio.run(ladder, config, folder / f"plain-{round_no}", args.latency, False)
            times["no_report"].append(time.perf_counter() - started)
            out = folder / f"out-{round_no}"
            started = time.perf_counter()
            anyio.run(ladder, config, out, args.latency)
            times["ladder"].append(time.perf_counter() - started)
            started = time.perf_counter()
            anyio.run(ladder, config, out, args.latency)
            times["resume"].append(time.perf_counter() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"{args.cases} test cases x 3 rungs, {args.latency * 1000:g} ms per call, concurrency 16, {args.rounds} rounds"
    )
    for name, value in med.items():
        print(f"  {name:9s} median {value:7.3f}s  (runs: {', '.join(f'{t:.3f}' for t in times[name])})")
    print(
        f"ladder / direct = {med['ladder'] / med['direct']:.2f}x   "
        f"ladder without report / direct = {med['no_report'] / med['direct']:.2f}x   "
        f"resume / ladder = {med['resume'] / med['ladder']:.3f}x"
    )


if __name__ == "__main__":
    main()

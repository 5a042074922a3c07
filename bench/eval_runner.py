"""Runner overhead: N cases through a provider with a fixed latency, against the ideal N x latency / concurrency.

Three things are timed in the same process, interleaved round by round so machine noise
hits all alike:

- ``ideal``: N x latency / concurrency, the floor no runner can beat;
- ``sleep``: only ``anyio.sleep(latency)`` N times behind the same limiter: the timer and
  event-loop floor of this machine;
- ``bare``: the same provider calls with nothing else, N tasks behind a CapacityLimiter
  (what the event loop itself costs);
- ``evaluate``: tunewise's runner with two metrics (exact match, token F1), cost, and
  every result written to a SQLite run store (WAL) as it arrives.

    .venv/bin/python bench/eval_runner.py [--cases 1000] [--latency 0.05] [--concurrency 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio

from tunewise import ChatRequest, Model, ModelRef, Usage
from tunewise.evaluation import Case, evaluate
from tunewise.strategies import ZeroShot
from tunewise.testing import ScriptedProvider


def answer(request: ChatRequest) -> str:
    return (request.messages[-1].content or "").split()[-1]


def price(model_ref: str, usage: Usage) -> float | None:
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    return (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.6) / 1e6


async def sleep_only(latency: float, n: int, concurrency: int) -> float:
    limiter = anyio.CapacityLimiter(concurrency)

    async def one() -> None:
        async with limiter:
            await anyio.sleep(latency)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(n):
            group.start_soon(one)
    return time.perf_counter() - started


async def bare(provider: ScriptedProvider, model: Model, cases: list[Case], concurrency: int) -> float:
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(case: Case) -> None:
        async with limiter:
            await provider.chat(model.request(list(case.input)))

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for case in cases:
            group.start_soon(one, case)
    return time.perf_counter() - started


async def runner(model: Model, cases: list[Case], concurrency: int, folder: Path, round_: int) -> float:
    started = time.perf_counter()
    summary = await evaluate(
        [ZeroShot(model, name="bench")],
        cases,
        ["exact_match", "token_f1"],
        store=folder / f"runs-{round_}.sqlite",
        concurrency=concurrency,
        cost=price,
    )
    elapsed = time.perf_counter() - started
    assert summary.ok == len(cases) and summary.errors == 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    provider = ScriptedProvider(answer, latency=args.latency)
    model = Model(ModelRef(prefix="scripted", name="bench"), provider)
    cases = [Case.of(f"Repeat the number {i}", str(i), id=f"c{i}") for i in range(args.cases)]
    ideal = args.cases * args.latency / args.concurrency
    samples: dict[str, list[float]] = {"sleep": [], "bare": [], "evaluate": []}

    async def rounds() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            await runner(model, cases[:100], args.concurrency, Path(tmp), -1)  # warm imports and code paths
            for r in range(args.rounds):
                samples["sleep"].append(await sleep_only(args.latency, args.cases, args.concurrency))
                samples["bare"].append(await bare(provider, model, cases, args.concurrency))
                samples["evaluate"].append(await runner(model, cases, args.concurrency, Path(tmp), r))

    anyio.run(rounds)
    print(
        f"{args.cases} cases, latency {args.latency * 1000:g} ms, concurrency {args.concurrency}, "
        f"{args.rounds} rounds interleaved; ideal = N x latency / concurrency = {ideal:.3f} s"
    )
    print(f"{'':10} {'median s':>9} {'min s':>7} {'vs ideal':>9} {'vs sleep':>9} {'vs bare':>8}")
    sleep_median = statistics.median(samples["sleep"])
    bare_median = statistics.median(samples["bare"])
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"{name:10} {median:9.3f} {min(values):7.3f} {median / ideal:8.3f}x "
            f"{median / sleep_median:8.3f}x {median / bare_median:7.3f}x"
        )


if __name__ == "__main__":
    main()

"""What pricing a call costs, next to the bare arithmetic it wraps, measured side by side.

Evaluation prices every case with ``cost_of``; this shows the price of the lookup (model
reference parsing, snapshot and ``ft:`` resolution, the settings check that keeps the
default catalog fresh) against inline arithmetic, interleaved round by round so machine
noise hits all alike. Also the one-off cost of loading the catalog.

    .venv/bin/python bench/costs.py [--rounds 15] [--calls 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from tunewise import Usage
from tunewise.costs import Rates, cost_of, default_catalog, load_catalog, request_cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    usage = Usage(prompt_tokens=1200, completion_tokens=150, cached_prompt_tokens=256)
    rates = Rates(input=0.15, cached_input=0.075, output=0.60)
    catalog = default_catalog()
    p, c, k = 1200, 150, 256

    cases: dict[str, Callable[[], object]] = {
        "inline arithmetic (baseline)": lambda: ((p - k) * 0.15 + k * 0.075 + c * 0.60) / 1e6,
        "request_cost(rates, ...)": lambda: request_cost(
            rates, prompt_tokens=p, completion_tokens=c, cached_prompt_tokens=k
        ),
        "cost_of(ref, catalog=...)": lambda: cost_of("openai:gpt-4o-mini", usage, catalog=catalog),
        "cost_of(snapshot ref)": lambda: cost_of("openai:gpt-4o-mini-2024-07-18", usage),
        "cost_of(ft: ref)": lambda: cost_of("openai:ft:gpt-4o-mini-2024-07-18:acme::9xYz", usage),
        "cost_of(ref) default catalog": lambda: cost_of("openai:gpt-4o-mini", usage),
    }
    expected = ((p - k) * 0.15 + k * 0.075 + c * 0.60) / 1e6
    for name, fn in cases.items():  # warm up, and check every case prices the same call alike
        factor = 2.0 if "ft:" in name else 1.0  # a gpt-4o-mini fine-tune costs twice the base per token
        assert abs(float(fn()) - factor * expected) < 1e-12, name  # type: ignore[arg-type]
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                fn()
            samples[name].append((time.perf_counter() - started) / args.calls)
    base = statistics.median(samples["inline arithmetic (baseline)"])
    print(f"{'per call':32} {'median us':>10} {'vs inline':>10}   ({args.rounds} rounds x {args.calls} calls)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:32} {median * 1e6:10.2f} {median / base:10.1f}x")

    loads = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        load_catalog()
        loads.append(time.perf_counter() - started)
    print(f"{'load_catalog() (once per change)':32} {statistics.median(loads) * 1e3:10.2f} ms")


if __name__ == "__main__":
    main()

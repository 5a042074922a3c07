"""Import cost of tunewise vs the official openai client, measured side by side.

Each statement runs in a fresh interpreter, interleaved round by round so machine noise
hits both alike; the table shows medians and the ratio to ``import openai``.

    .venv/bin/python bench/import_time.py [--rounds 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python (empty)": "pass",
    "import tunewise": "import tunewise",
    "import tunewise; providers()": "import tunewise; tunewise.providers()",
    "import openai": "import openai",
}


def once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    for code in CASES.values():  # warm the file cache and .pyc files
        once(code)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.rounds):
        for name, code in CASES.items():
            samples[name].append(once(code))
    base = statistics.median(samples["import openai"])
    print(f"{'statement':32} {'median ms':>10} {'vs openai':>10}   ({args.rounds} rounds, interleaved)")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:32} {median * 1000:10.1f} {median / base:10.2f}x")


if __name__ == "__main__":
    main()

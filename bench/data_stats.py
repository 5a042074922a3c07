"""Throughput of ``tunewise data stats`` vs the cookbook's approach (json.loads everything, then count), side by side.

A chat JSONL file of N examples (default 100,000) is generated once. Each approach runs
in a fresh interpreter, interleaved round by round so machine noise hits all alike; the
table shows the median examples/s, the ratio to the cookbook approach and the peak
resident memory of the process.

- cookbook: ``[json.loads(l) for l in f]``, the notebook's format-check loop, then
  ``num_tokens_from_messages`` / ``num_assistant_tokens_from_messages`` with
  ``encoding.encode`` per field and numpy for the distributions.
- tunewise analyze(): the library call, streaming (all checks, one pass).
- tunewise data stats: the CLI end to end (interpreter start, imports, JSON output).

Both use the same shipped o200k_base encoding, loaded before the clock starts in the
in-process cases (the CLI case includes loading it).

    .venv/bin/python bench/data_stats.py [--examples 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

COOKBOOK = r"""
import json, resource, sys, time
from collections import defaultdict
import numpy as np
from tunewise.data import load_encoding
encoding = load_encoding("o200k_base")
started = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    dataset = [json.loads(line) for line in f]
format_errors = defaultdict(int)
for ex in dataset:
    if not isinstance(ex, dict):
        format_errors["data_type"] += 1
        continue
    messages = ex.get("messages", None)
    if not messages:
        format_errors["missing_messages_list"] += 1
        continue
    for message in messages:
        if "role" not in message or "content" not in message:
            format_errors["message_missing_key"] += 1
        if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
            format_errors["message_unrecognized_key"] += 1
        if message.get("role", None) not in ("system", "user", "assistant", "function"):
            format_errors["unrecognized_role"] += 1
        content = message.get("content", None)
        function_call = message.get("function_call", None)
        if (not content and not function_call) or not isinstance(content, str):
            format_errors["missing_content"] += 1
    if not any(message.get("role", None) == "assistant" for message in messages):
        format_errors["example_missing_assistant_message"] += 1
def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens
def num_assistant_tokens_from_messages(messages):
    return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")
n_missing_system = n_missing_user = 0
convo_lens, assistant_lens = [], []
for ex in dataset:
    messages = ex["messages"]
    if not any(m["role"] == "system" for m in messages):
        n_missing_system += 1
    if not any(m["role"] == "user" for m in messages):
        n_missing_user += 1
    convo_lens.append(num_tokens_from_messages(messages))
    assistant_lens.append(num_assistant_tokens_from_messages(messages))
for values in (convo_lens, assistant_lens):
    stats = (min(values), max(values), np.mean(values), np.median(values))
    quantiles = (np.quantile(values, 0.1), np.quantile(values, 0.9))
n_too_long = sum(length > 16385 for length in convo_lens)
billed = sum(min(16385, length) for length in convo_lens)
elapsed = time.perf_counter() - started
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": elapsed, "rss_kb": rss_kb, "total": sum(convo_lens)}))
"""

LIBRARY = r"""
import json, resource, sys, time
from tunewise.data import TiktokenCounter, analyze
counter = TiktokenCounter("o200k_base")
started = time.perf_counter()
report = analyze(sys.argv[1], counter=counter)
elapsed = time.perf_counter() - started
assert report.ok, report.format_errors
print(json.dumps({"seconds": elapsed, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "total": round(report.total_tokens.mean * report.total_tokens.n)}))
"""


def generate(path: Path, n: int) -> None:
    rng = random.Random(0)
    words = ["order", "refund", "invoice", "shipping", "account", "password", "delivery", "warranty", "card", "app"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            question = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
            answer = " ".join(rng.choice(words) for _ in range(rng.randint(5, 120)))
            row = {
                "messages": [
                    {
                        "role": "system",
                        "content": "You are the support assistant of Acme. Answer briefly and politely.",
                    },
                    {"role": "user", "content": f"#{i}: {question}?"},
                    {"role": "assistant", "content": answer + "."},
                ]
            }
            f.write(json.dumps(row) + "\n")


def in_process(code: str, path: Path) -> tuple[float, int, float]:
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return float(data["seconds"]), int(data["rss_kb"]), float(data["total"])


def cli(path: Path) -> tuple[float, int, float]:
    exe = str(Path(sys.executable).parent / "tunewise")
    code = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    args = [exe, "data", "stats", str(path), "--json"]
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    seconds, rss = out.split()
    return float(seconds), int(rss), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.jsonl"
        generate(path, args.examples)
        size_mb = path.stat().st_size / 1e6
        cases = {
            "cookbook (json.loads all + count)": lambda: in_process(COOKBOOK, path),
            "tunewise analyze() (streaming)": lambda: in_process(LIBRARY, path),
            "tunewise data stats (CLI, end to end)": lambda: cli(path),
        }
        samples: dict[str, list[tuple[float, int, float]]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, run in cases.items():
                samples[name].append(run())
    totals = {s[2] for runs in samples.values() for s in runs if s[2] == s[2]}
    print(
        f"{args.examples:,} examples, {size_mb:.1f} MB, {args.rounds} rounds (median); "
        f"same token total in both: {len(totals) == 1}"
    )
    base = statistics.median(s[0] for s in samples["cookbook (json.loads all + count)"])
    print(f"{'approach':40} {'seconds':>8} {'examples/s':>11} {'speed vs cookbook':>18} {'peak RSS MB':>12}")
    for name, runs in samples.items():
        seconds = statistics.median(s[0] for s in runs)
        rss = max(s[1] for s in runs) / 1024
        print(f"{name:40} {seconds:8.2f} {args.examples / seconds:11,.0f} {base / seconds:17.2f}x {rss:12.0f}")


if __name__ == "__main__":
    main()

"""A 100,000-example file is analyzed as a stream: memory stays bounded however long the file is."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tunewise.data import TiktokenCounter, analyze

N = 100_000


@pytest.mark.slow
def test_analyze_streams_a_100k_example_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(N):
            row = {
                "messages": [
                    {"role": "system", "content": "You are a concise support assistant."},
                    {"role": "user", "content": f"Where is order {i}? It was due on day {i % 31}."},
                    {"role": "assistant", "content": f"Order {i} ships in {i % 7 + 1} days."},
                ]
            }
            f.write(json.dumps(row) + "\n")
    size = path.stat().st_size
    counter = TiktokenCounter("o200k_base")  # loaded before measuring: the encoding is a fixed cost
    tracemalloc.start()
    try:
        report = analyze(path, counter=counter)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and report.n_examples == report.n_valid == N
    assert report.default_epochs == 1  # 100,000 x 3 > 25,000 -> max(1, 25000 // 100000)
    assert report.total_tokens.n == N
    # Loading the file would need well over its size in Python objects; streaming needs a few MB at most.
    assert size > 15_000_000
    assert peak < 8_000_000, f"peak {peak:,} bytes for a {size:,}-byte file"

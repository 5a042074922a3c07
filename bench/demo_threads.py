"""Demo-model training step time with 1 vs 2 torch threads, alternating in one process.

The demo (``make demo``) pre-trains and LoRA-fine-tunes its tiny model with one torch
thread. This measures why: the same AdamW step of the demo model's shape (hidden 128,
4 layers, vocab 2048, a batch of 8 x 128 tokens) with 1 and with 2 intra-op threads,
rounds alternating so machine noise hits both alike. It prints wall and CPU seconds per
step and the ratio 2-threads / 1-thread (above 1: one thread is faster).

    .venv/bin/python bench/demo_threads.py [--rounds 4 --steps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from tunewise.demo import TinyModelSpec
    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    spec = TinyModelSpec()
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(
            Path(tmp) / "m",
            list(DEFAULT_CORPUS) * 20,
            vocab_size=spec.vocab_size,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            num_heads=spec.num_heads,
        )
        model = AutoModelForCausalLM.from_pretrained(path)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    vocab = int(model.config.vocab_size)
    batch = torch.randint(0, vocab, (spec.batch_size, spec.block_size), generator=torch.Generator().manual_seed(0))

    def step() -> None:
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    wall: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            started, started_cpu = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step()
            wall[threads].append((time.perf_counter() - started) / args.steps)
            cpu[threads].append((time.process_time() - started_cpu) / args.steps)
    result = {
        f"{n}_thread{'s' if n > 1 else ''}": {
            "wall_s_per_step": round(statistics.median(wall[n]), 4),
            "cpu_s_per_step": round(statistics.median(cpu[n]), 4),
        }
        for n in (1, 2)
    }
    ratio = statistics.median(wall[2]) / statistics.median(wall[1])
    result["wall_ratio_2_over_1"] = round(ratio, 2)
    with open("/proc/loadavg", encoding="ascii") as handle:
        result["load_average"] = handle.read().split()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

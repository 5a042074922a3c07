"""Batched vs sequential generation through the local provider, at 8 concurrent requests.

Eight chat requests are sent at once to two providers on the same model: one batches
(``max_batch_size=8``), one serves a request at a time (``max_batch_size=1``). Both
decode greedily with the same token budget, so both produce the same tokens; the table
compares completion tokens per second. Hugging Face ``generate`` on one request at a
time is measured too, as a reference for the per-request cost of the decode loop.
Rounds alternate so machine noise hits all alike. The target is a ratio >= 3.

    .venv/bin/python bench/local_batching.py [--hidden 256 --layers 4 --tokens 64 --rounds 3 --device auto]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPTS = [
    "What is the refund window?",
    "How do I reset my password?",
    "Is shipping free?",
    "When is support open?",
    "Do gift cards expire?",
    "Where can I find my invoices?",
    "My parcel arrived damaged, what now?",
    "Can I change my plan?",
]


async def provider_run(model: str, batch_size: int, tokens: int, device: str) -> tuple[float, int, list[str]]:
    import anyio

    from tunewise import ChatRequest, Message
    from tunewise_local import LocalOptions, LocalProvider

    provider = LocalProvider(
        options=LocalOptions.parse({"max_batch_size": batch_size, "max_wait_ms": 5, "device": device})
    )
    await provider.load(model)  # loading is not what is measured
    texts: dict[int, str] = {}
    counts: dict[int, int] = {}

    async def ask(i: int) -> None:
        request = ChatRequest(model=model, messages=(Message.user(PROMPTS[i]),), temperature=0, max_tokens=tokens)
        response = await provider.chat(request)
        texts[i], counts[i] = response.text, response.usage.completion_tokens or 0

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(len(PROMPTS)):
            tg.start_soon(ask, i)
    elapsed = time.perf_counter() - started
    await provider.aclose()
    return elapsed, sum(counts.values()), [texts[i] for i in range(len(PROMPTS))]


def hf_generate_run(model_dir: Path, tokens: int, device: str) -> tuple[float, int]:
    """``model.generate`` one request at a time, greedy, same budget."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir).to(device).eval()
    total = 0
    started = time.perf_counter()
    for prompt in PROMPTS:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=tokens, do_sample=False)
        total += out.shape[1] - ids["input_ids"].shape[1]
    return time.perf_counter() - started, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared CPU)")
    args = parser.parse_args()

    import anyio
    import torch
    from transformers.utils import logging

    from tunewise_local._devices import resolve_device
    from tunewise_local.tiny import build_tiny_model

    logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(
            Path(tmp) / "model",
            vocab_size=args.vocab,
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
            # eos is never picked by an untrained model in practice, so every answer uses the full budget
        )
        model = str(model_dir)
        results: dict[str, list[float]] = {"batched (max_batch_size=8)": [], "sequential (max_batch_size=1)": []}
        results["HF generate, one at a time"] = []
        anyio.run(provider_run, model, 8, 4, device)  # warm-up
        same = True
        for _ in range(args.rounds):
            t_b, n_b, texts_b = anyio.run(provider_run, model, 8, args.tokens, device)
            t_s, n_s, texts_s = anyio.run(provider_run, model, 1, args.tokens, device)
            t_h, n_h = hf_generate_run(model_dir, args.tokens, device)
            same = same and texts_b == texts_s
            results["batched (max_batch_size=8)"].append(n_b / t_b)
            results["sequential (max_batch_size=1)"].append(n_s / t_s)
            results["HF generate, one at a time"].append(n_h / t_h)
        print(
            f"model: Llama hidden={args.hidden} layers={args.layers} heads={args.heads} vocab={args.vocab}; "
            f"8 concurrent requests x {args.tokens} new tokens, greedy; {args.rounds} rounds; device={device}; "
            f"torch threads={torch.get_num_threads()}"
        )
        print(f"{'':32}{'median tokens/s':>16}")
        for name, values in results.items():
            print(f"{name:32}{statistics.median(values):>16.0f}")
        batched, sequential = results["batched (max_batch_size=8)"], results["sequential (max_batch_size=1)"]
        ratios = [b / s for b, s in zip(batched, sequential, strict=True)]
        ratio = statistics.median(ratios)
        print(f"batched / sequential throughput: {ratio:.2f}x (per round: {' '.join(f'{r:.2f}' for r in ratios)})")
        print(f"batched answers identical to sequential ones: {same}")
        sys.exit(0 if ratio >= 3 else 1)


if __name__ == "__main__":
    main()

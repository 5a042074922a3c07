"""LoRA training step time: tunewise-local's trainer vs a plain hand-written peft + torch loop.

Both train the same model (built by ``tunewise_local.tiny``) on the same tokenized chat
data with the same LoRA settings, batch size and optimizer, in this process, on the same
device. Runs alternate (ours, plain, ours, plain, ...) so machine noise hits both
alike; each run's step time is the wall time between its first and last optimizer
step divided by the steps in between, so everything the trainer does per step (event
log, cancel check, scheduler) is counted. With one torch thread (the default here) all
the work runs on the training thread, so its CPU time per step is measured too: on a
shared, busy machine it is the steady figure, and the one held to the target, a ratio
<= 1.05; wall time is printed beside it.

    .venv/bin/python bench/local_train.py [--hidden 256 --layers 4 --steps 30 --rounds 3 --device auto]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUESTIONS = [
    "What is the refund window for {item}?",
    "How do I return a {item} that arrived broken?",
    "Can I pay for the {item} in instalments?",
    "Is there a warranty on the {item}?",
]
ITEMS = ["lamp", "chair", "desk", "kettle", "phone", "bicycle", "tent", "camera", "blender", "sofa", "watch", "radio"]
ANSWER = (
    "Yes. For the {item} you have thirty days to return it for a full refund; send a photo if it arrived "
    "damaged and we will replace it at no cost, with free shipping both ways and a two year warranty."
)


def write_data(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for item in ITEMS:
            for question in QUESTIONS:
                messages = [
                    {"role": "system", "content": "You are a helpful support assistant."},
                    {"role": "user", "content": question.format(item=item)},
                    {"role": "assistant", "content": ANSWER.format(item=item)},
                ]
                handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def run_ours(model_dir: Path, data: Path, home: Path, args: argparse.Namespace) -> tuple[float, float]:
    """tunewise-local's trainer, in a thread of this process (no process start-up in the timing)."""
    import anyio

    from tunewise import FineTuneSpec
    from tunewise_local import LocalProvider

    async def main() -> list[tuple[float, float]]:
        provider = LocalProvider(home=home)
        spec = FineTuneSpec(
            base_model=str(model_dir),
            training_file=data,
            n_epochs=50,
            batch_size=args.batch_size,
            learning_rate=2e-4,
            seed=0,
            options={
                "worker": "thread",
                "max_steps": args.steps,
                "validation_split": 0.0,
                "checkpoint_every": 0,
                "lora_r": 8,
                "lora_dropout": 0.0,
                "device": args.device,
                "max_grad_norm": None,
            },
        )
        job = await provider.fine_tuner().start(spec)
        await job.wait(poll_interval=0.5)  # events are read afterwards, so the caller's thread stays quiet
        elapsed = [(e.data["elapsed_s"], e.data["cpu_s"]) async for e in job.events() if e.type == "step"]
        await provider.aclose()
        return elapsed

    marks = anyio.run(main)
    n = len(marks) - 1
    return (marks[-1][0] - marks[0][0]) / n, (marks[-1][1] - marks[0][1]) / n


def run_plain(model_dir: Path, data: Path, args: argparse.Namespace) -> tuple[float, float]:
    """The plain loop, run in a thread as the trainer is, so both have the same threading."""
    import threading

    result: list[tuple[float, float]] = []
    thread = threading.Thread(target=lambda: result.append(plain_loop(model_dir, data, args)))
    thread.start()
    thread.join()
    return result[0]


def plain_loop(model_dir: Path, data: Path, args: argparse.Namespace) -> tuple[float, float]:
    """What one writes by hand: peft LoRA, AdamW, a linear schedule, model(..., labels=...).loss."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewise_local._chatdata import read_chat_jsonl, tokenize_conversation
    from tunewise_local._devices import resolve_device

    device = resolve_device(args.device)
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [tokenize_conversation(tokenizer, m, max_length=1024) for m in read_chat_jsonl(data)]
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, config).to(device)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / args.steps)
    # The same batches in the same order as the trainer (seeded shuffle per epoch), so both pad alike.
    batches = []
    for epoch in range(args.steps):
        order = list(range(len(rows)))
        random.Random(epoch).shuffle(order)
        batches += [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    pad = tokenizer.pad_token_id
    marks = []
    started, cpu_started = time.perf_counter(), time.thread_time()
    for step in range(args.steps):
        batch = [rows[i] for i in batches[step]]
        width = max(len(r.input_ids) for r in batch)
        ids = torch.tensor([r.input_ids + [pad] * (width - len(r.input_ids)) for r in batch], device=device)
        labels = torch.tensor([r.labels + [-100] * (width - len(r.labels)) for r in batch], device=device)
        mask = torch.tensor([[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in batch], device=device)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())  # read the loss, as any loop that logs it does (and as ours does)
        marks.append((time.perf_counter() - started, time.thread_time() - cpu_started))
    n = len(marks) - 1
    return (marks[-1][0] - marks[0][0]) / n, (marks[-1][1] - marks[0][1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared CPU)")
    args = parser.parse_args()

    import torch
    from safetensors.torch import load_file
    from transformers.utils import logging

    from tunewise_local._devices import resolve_device
    from tunewise_local.tiny import build_tiny_model

    logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = write_data(root / "train.jsonl")
        corpus = [line for line in data.read_text().splitlines()]
        model_dir = build_tiny_model(
            root / "model",
            corpus,
            vocab_size=args.vocab,
            hidden_size=args.hidden,
            num_layers=args.layers,
            num_heads=args.heads,
        )
        params = sum(t.numel() for t in load_file(model_dir / "model.safetensors").values())
        ours, plain = [], []
        run_plain(model_dir, data, args)  # warm-up: caches, allocator, kernels
        for i in range(args.rounds):
            ours.append(run_ours(model_dir, data, root / f"home{i}", args))
            plain.append(run_plain(model_dir, data, args))
        device = resolve_device(args.device)
        print(
            f"model: Llama hidden={args.hidden} layers={args.layers} heads={args.heads} vocab={args.vocab} "
            f"({params / 1e6:.2f}M params); LoRA r=8 all-linear; batch={args.batch_size}; "
            f"{args.steps} steps x {args.rounds} rounds; device={device}; torch threads={torch.get_num_threads()}"
        )
        for label, index in (("wall", 0), ("CPU (this thread)", 1)):
            print(f"-- {label} time per step --")
            for name, values in (("tunewise-local trainer", ours), ("plain peft + torch loop", plain)):
                runs = " ".join(f"{v[index] * 1000:.1f}" for v in values)
                print(f"  {name:26}median {statistics.median(v[index] for v in values) * 1000:8.1f} ms   runs: {runs}")
            ratios = [o[index] / p[index] for o, p in zip(ours, plain, strict=True)]
            rounds = " ".join(f"{r:.3f}" for r in ratios)
            print(f"  ratio ours/plain: {statistics.median(ratios):.3f} (rounds: {rounds})")
        cpu_ratio = statistics.median(o[1] / p[1] for o, p in zip(ours, plain, strict=True))
        print(f"target: CPU-time ratio <= 1.05 (wall time on a shared machine is reported, but noisy): {cpu_ratio:.3f}")
        ratio = cpu_ratio
        sys.exit(0 if ratio <= 1.05 else 1)


if __name__ == "__main__":
    main()

"""GPU smoke check for tunewise-local: device selection, LoRA training and batched generation on CUDA.

Run it on a machine with an NVIDIA GPU (nothing is downloaded)::

    HF_HUB_OFFLINE=1 python bench/local_gpu_check.py [--hidden 512 --layers 8 --steps 20]

It builds a tiny model, checks that ``device="auto"`` picks ``cuda`` and ``dtype="auto"``
picks bfloat16 (float16 on GPUs without bf16), trains a few LoRA steps in a worker
process through the public FineTuner, chats with the adapter, and compares batched
with sequential generation at 8 concurrent requests. It prints the device and timings
and exits non-zero if a check fails. On a machine without a GPU it says so and runs
the same steps on the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
ANSWERS = [
    "Thirty days, full refund.",
    "Settings, Security, Reset password.",
    "Yes, over fifty euros.",
    "Monday to Friday, nine to five.",
    "No, gift cards never expire.",
    "On the Billing page.",
    "Send a photo; we replace it.",
    "Any time, from next month.",
]


async def check(args: argparse.Namespace, root: Path) -> bool:
    import anyio
    import torch

    from tunewise import ChatRequest, FineTuneSpec, Message
    from tunewise_local import LocalOptions, LocalProvider
    from tunewise_local._devices import resolve_device, resolve_dtype
    from tunewise_local.tiny import build_tiny_model

    ok = True
    device = resolve_device("auto")
    cuda = torch.cuda.is_available()
    name = torch.cuda.get_device_name(0) if cuda else "no CUDA GPU visible"
    print(f"torch {torch.__version__}; CUDA available: {cuda} ({name}); device='auto' resolves to {device!r}")
    print(f"dtype='auto' for inference / LoRA base: {resolve_dtype('auto', device)}; full fine-tune: "
          f"{resolve_dtype('auto', device, full_training=True)}")  # fmt: skip
    if cuda and device != "cuda":
        print("FAIL: a GPU is visible but 'auto' did not pick it")
        ok = False

    started = time.perf_counter()
    texts = [f"{q} {a}" for q, a in zip(PROMPTS, ANSWERS, strict=True)]
    model_dir = build_tiny_model(
        root / "model", texts, vocab_size=1000, hidden_size=args.hidden, num_layers=args.layers, num_heads=8
    )
    print(f"tiny model (hidden={args.hidden}, layers={args.layers}) built in {time.perf_counter() - started:.1f}s")
    data = root / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
            for q, a in zip(PROMPTS, ANSWERS, strict=True)
        )
    )

    provider = LocalProvider(home=root / "home", options=LocalOptions.parse({"max_batch_size": 8}))
    spec = FineTuneSpec(
        base_model=str(model_dir),
        training_file=data,
        n_epochs=50,
        batch_size=8,
        learning_rate=1e-2,
        options={"max_steps": args.steps, "validation_split": 0.0, "lora_r": 16, "lora_alpha": 64, "lora_dropout": 0.0},
    )
    started = time.perf_counter()
    job = await provider.fine_tuner().start(spec)
    steps = []
    async for event in job.events():
        if event.type == "started":
            print(f"worker: {event.message}")
        if event.type == "step":
            steps.append(event.data)
    try:
        ref = await job.wait(poll_interval=0.1, timeout=600)
    except Exception as exc:
        print(f"FAIL: fine-tune: {exc}; see {job.directory / 'worker.log'}")
        await provider.aclose()
        return False
    step_times = [s["step_time_s"] for s in steps[2:]] or [s["step_time_s"] for s in steps]
    print(
        f"LoRA: {len(steps)} steps, loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f}; median step "
        f"{statistics.median(step_times) * 1000:.1f}ms, {statistics.median(s['tokens_per_s'] for s in steps[2:]):.0f} "
        f"tokens/s; job wall time {time.perf_counter() - started:.1f}s (process start and model load included)"
    )
    if not steps[-1]["loss"] < steps[0]["loss"]:
        print("FAIL: training loss did not go down")
        ok = False

    loaded = await provider.load(ref.model)
    param = next(loaded.model.parameters())
    print(f"adapter model loaded on {param.device} as {param.dtype}")
    if cuda and param.device.type != "cuda":
        print("FAIL: the model is not on the GPU")
        ok = False
    answers = []
    for question in PROMPTS:
        request = ChatRequest(model=ref.model, messages=(Message.user(question),), temperature=0, max_tokens=24)
        answers.append((await provider.chat(request)).text)
    learned = sum(a == b for a, b in zip(answers, ANSWERS, strict=True))
    print(f"greedy answers reproducing their training answer: {learned}/{len(ANSWERS)}")

    async def burst(batch_size: int) -> tuple[float, int]:
        local = LocalProvider(options=LocalOptions.parse({"max_batch_size": batch_size, "max_wait_ms": 5}))
        await local.load(str(model_dir))
        counts: list[int] = []

        async def ask(prompt: str) -> None:
            request = ChatRequest(
                model=str(model_dir), messages=(Message.user(prompt),), temperature=0, max_tokens=args.tokens
            )
            counts.append((await local.chat(request)).usage.completion_tokens or 0)

        begin = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for prompt in PROMPTS:
                tg.start_soon(ask, prompt)
        elapsed = time.perf_counter() - begin
        await local.aclose()
        return elapsed, sum(counts)

    await burst(8)  # warm-up: CUDA context, kernels
    ratios = []
    for _ in range(3):
        t_b, n_b = await burst(8)
        t_s, n_s = await burst(1)
        ratios.append((n_b / t_b) / (n_s / t_s))
        print(f"batched {n_b / t_b:8.0f} tokens/s   sequential {n_s / t_s:8.0f} tokens/s   ratio {ratios[-1]:.2f}x")
    print(f"batched / sequential at 8 concurrent requests: {statistics.median(ratios):.2f}x (median)")
    if statistics.median(ratios) < 3:
        print("FAIL: batching gains less than 3x")
        ok = False

    vectors = await provider.embedder(str(model_dir)).embed(["refund policy", "reset my password"])
    print(f"embeddings: {len(vectors)} x {len(vectors[0])}")
    await provider.aclose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    import anyio
    from transformers.utils import logging

    logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        ok = anyio.run(check, args, Path(tmp))
    print("GPU CHECK: OK" if ok else "GPU CHECK: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

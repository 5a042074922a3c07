"""GPU check for QLoRA in tunewise-local: LoRA on a 4-bit base against LoRA on a bf16 base.

Run it on a machine with an NVIDIA GPU and bitsandbytes (nothing is downloaded)::

    pip install "tunewise-local[qlora]"
    HF_HUB_OFFLINE=1 python bench/qlora_gpu.py [--hidden 1024 --layers 12 --steps 20]

It builds a tiny Llama-style model of the given shape, then trains the same LoRA twice
through the public FineTuner, each in its own worker process: once on a bf16 base and once
with ``load_in_4bit`` (nf4, double quantization, bf16 compute). Each worker records its
peak GPU memory (``torch.cuda.max_memory_allocated``) in the job's metrics; step times come
from the job's events. It prints the two side by side with their ratio, checks that the
loss went down in both, and chats with the QLoRA adapter the way any LoRA adapter is
served (the base at bf16, the adapter merged). It exits non-zero if a check fails.

On a machine without a CUDA GPU or without bitsandbytes it says so, shows the one-line
error a QLoRA job gets there (it is refused before it starts), and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUESTIONS = [
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
    "Thirty days, full refund, no questions asked, on any item bought from us.",
    "Open Settings, choose Security, press Reset password and follow the link we email you.",
    "Yes, shipping is free on orders over fifty euros and takes three to five working days.",
    "Support is open Monday to Friday from nine to five, and on Saturday mornings.",
    "No, gift cards never expire and can be combined with any other discount code.",
    "Invoices are sent by email and can also be downloaded from the Billing page.",
    "Send us a photo of the damage and we will replace the parcel at no cost.",
    "You can change your plan at any time; the new price applies from the next month.",
]


def _write_data(path: Path, repeat: int) -> Path:
    """Chat rows whose answers repeat ``repeat`` times: longer sequences, so activations weigh in too."""
    with path.open("w", encoding="utf-8") as handle:
        for question, answer in zip(QUESTIONS, ANSWERS, strict=True):
            messages = [
                {"role": "user", "content": question},
                {"role": "assistant", "content": " ".join([answer] * repeat)},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


async def _train(provider: Any, model_dir: Path, data: Path, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """One LoRA run in a worker process; its step times, losses, peak memory and adapter."""
    from tunewise import FineTuneSpec

    options = {
        "max_steps": args.steps,
        "validation_split": 0.0,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "dtype": "bfloat16",
        "checkpoint_every": 0,
        "max_length": 2048,
        **extra,
    }
    spec = FineTuneSpec(
        base_model=str(model_dir),
        training_file=data,
        n_epochs=1000,
        batch_size=args.batch_size,
        learning_rate=2e-4,
        options=options,
    )
    started = time.perf_counter()
    job = await provider.fine_tuner().start(spec)
    steps: list[dict[str, Any]] = []
    async for event in job.events():
        if event.type == "started":
            print(f"  worker: {event.message}")
        if event.type == "step":
            steps.append(event.data)
    ref = await job.wait(poll_interval=0.1, timeout=900)
    timed = [s["step_time_s"] for s in steps[2:]] or [s["step_time_s"] for s in steps]
    return {
        "ref": ref,
        "steps": len(steps),
        "first_loss": steps[0]["loss"],
        "last_loss": steps[-1]["loss"],
        "mean_step_s": statistics.fmean(timed),
        "peak_bytes": job.metrics.get("peak_gpu_memory_bytes"),
        "wall_s": time.perf_counter() - started,
    }


def _weights_gib(model_dir: Path) -> tuple[int, float, float]:
    """Parameters of the base; their bf16 size and the nf4 size with double quantization (GiB)."""
    from safetensors import safe_open

    count = 0
    with safe_open(str(model_dir / "model.safetensors"), "pt") as handle:
        for name in handle.keys():  # noqa: SIM118  # safe_open has no __iter__
            count += _numel(handle.get_slice(name).get_shape())
    bf16 = count * 2 / 2**30
    nf4 = count * (0.5 + 0.127 / 8) / 2**30  # 4 bits plus double-quantized constants (QLoRA paper: 0.127 bit)
    return count, bf16, nf4


def _numel(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


async def _cpu_note(root: Path) -> None:
    """Where QLoRA cannot run: the one-line error a job gets, before anything starts."""
    from tunewise import ConfigError, FineTuneSpec
    from tunewise_local import LocalProvider
    from tunewise_local.tiny import build_tiny_model

    model_dir = build_tiny_model(root / "model")
    data = _write_data(root / "train.jsonl", 1)
    provider = LocalProvider(home=root / "home")
    spec = FineTuneSpec(base_model=str(model_dir), training_file=data, options={"load_in_4bit": True})
    try:
        await provider.fine_tuner().start(spec)
    except ConfigError as exc:
        print(f"a QLoRA job here is refused before it starts:\n  {exc}")
    else:  # pragma: no cover - only where the checks above were wrong
        print("UNEXPECTED: the QLoRA job started")
    finally:
        await provider.aclose()


async def check(args: argparse.Namespace, root: Path) -> bool:
    import torch

    from tunewise import ChatRequest, Message
    from tunewise_local import LocalProvider
    from tunewise_local.tiny import build_tiny_model

    cuda = torch.cuda.is_available()
    bnb = importlib.util.find_spec("bitsandbytes") is not None
    name = torch.cuda.get_device_name(0) if cuda else "no CUDA GPU visible"
    print(f"torch {torch.__version__}; CUDA: {cuda} ({name}); bitsandbytes installed: {bnb}")
    if not (cuda and bnb):
        missing = " and ".join(m for m, ok in (("a CUDA GPU", cuda), ("bitsandbytes", bnb)) if not ok)
        print(f"CPU NOTE: QLoRA needs {missing}; no comparison is possible on this machine.")
        await _cpu_note(root)
        return True

    started = time.perf_counter()
    texts = [f"{q} {a}" for q, a in zip(QUESTIONS, ANSWERS, strict=True)]
    model_dir = build_tiny_model(
        root / "model",
        texts,
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
        max_position_embeddings=4096,
    )
    params, bf16_gib, nf4_gib = _weights_gib(model_dir)
    print(
        f"model: hidden={args.hidden}, layers={args.layers}, {params / 1e6:.1f}M parameters, built in "
        f"{time.perf_counter() - started:.1f}s; weights: bf16 {bf16_gib:.3f} GiB, nf4+double quant ~{nf4_gib:.3f} GiB"
    )
    data = _write_data(root / "train.jsonl", args.repeat)
    provider = LocalProvider(home=root / "home")
    ok = True
    try:
        print("bf16 LoRA:")
        lora = await _train(provider, model_dir, data, args)
        print("QLoRA (4-bit nf4 base):")
        qlora = await _train(provider, model_dir, data, args, load_in_4bit=True)
        print()
        print(f"{'':24}{'bf16 LoRA':>14}{'QLoRA 4-bit':>14}{'ratio':>9}")
        for label, key, scale, unit in (
            ("peak GPU memory", "peak_bytes", 2**-20, "MiB"),
            ("mean step time", "mean_step_s", 1000, "ms"),
        ):
            a, b = lora[key], qlora[key]
            if a is None or b is None:
                print(f"FAIL: {label} missing from the job metrics")
                ok = False
                continue
            print(f"{label + ' (' + unit + ')':24}{a * scale:>14.1f}{b * scale:>14.1f}{b / a:>8.2f}x")
        print(f"{'loss first -> last':24}{lora['first_loss']:>6.2f} -> {lora['last_loss']:<5.2f}"
              f"{qlora['first_loss']:>6.2f} -> {qlora['last_loss']:<5.2f}")  # fmt: skip
        for label, run in (("bf16 LoRA", lora), ("QLoRA", qlora)):
            if not run["last_loss"] < run["first_loss"]:
                print(f"FAIL: {label}: training loss did not go down")
                ok = False
        if lora["peak_bytes"] and qlora["peak_bytes"] and not qlora["peak_bytes"] < lora["peak_bytes"]:
            print("FAIL: QLoRA did not use less GPU memory than bf16 LoRA")
            ok = False

        loaded = await provider.load(qlora["ref"].model)  # served like any LoRA adapter: base + adapter, merged
        param = next(loaded.model.parameters())
        request = ChatRequest(model=qlora["ref"].model, messages=(Message.user(QUESTIONS[0]),), max_tokens=16)
        answer = (await provider.chat(request)).text
        print(f"QLoRA adapter served on {param.device} as {param.dtype} (base + adapter merged): {answer[:60]!r}")
    finally:
        await provider.aclose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=8, help="Answer repeats per row: longer sequences.")
    args = parser.parse_args()

    import anyio
    from transformers.utils import logging

    logging.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        ok = anyio.run(check, args, Path(tmp))
    print("QLORA CHECK: OK" if ok else "QLORA CHECK: FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

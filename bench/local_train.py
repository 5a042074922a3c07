"""LoRA training step time: tunewise-local's trainer vs a plain hand-written peft + torch loop.

Both sides train the same model on the same tokenized chat data (the support-bot training
conversations by default), with the same LoRA settings (the local fine-tuner's default
target modules), batch size, batches in the same order, and AdamW. The trainer computes
logits only at the positions whose next token is a target; the plain loop is what one
writes by hand: ``get_peft_model``, ``model(input_ids, attention_mask, labels).loss``,
``backward``, an AdamW step, so it computes logits over every position.

Every run is its own process, so its peak resident memory (``ru_maxrss``: model, data,
activations) is its own. Runs alternate (ours, plain, plain, ours, ...) so a noisy
machine hits both sides alike. Each run trains ``--warmup`` steps, then ``--steps`` timed
steps: its step time is the wall time from the end of the warm-up to the last optimizer
step, divided by the timed steps, so everything the trainer does per step (event log,
cancel check, scheduler) is counted. The trainer runs through ``LocalProvider`` with a
thread worker (the process start and model loading are not timed on either side).

Both sides' first-step losses are printed: LoRA starts as the identity, so they must be
equal (the trainer's loss is the mean over target tokens, as ``labels=`` gives).

    .venv/bin/python bench/local_train.py --model tiny --model /work/models/smollm2-135m-instruct \\
        [--steps 5 --warmup 2 --rounds 2 --batch-size 8 --max-length 384 --lora-r 16 --threads 1]

``--model tiny`` builds a small Llama-style model (``tunewise_local.tiny``) from the data
(``--hidden``, ``--layers``, ``--vocab`` shape it). The exit status is 1 when the trainer
is more than 5% slower than the plain loop on any model.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT / "examples" / "support-bot" / "train.jsonl"


def run_ours(args: argparse.Namespace) -> dict[str, Any]:
    """tunewise-local's trainer, in a thread worker of this process."""
    import anyio

    from tunewise import FineTuneSpec
    from tunewise_local import LocalProvider

    total = args.warmup + args.steps

    async def main(home: Path) -> list[dict[str, Any]]:
        provider = LocalProvider(home=home)
        options: dict[str, Any] = {
            "worker": "thread",
            "max_steps": total,
            "max_length": args.max_length,
            "validation_split": 0.0,
            "checkpoint_every": 0,
            "lora_r": args.lora_r,
            "lora_alpha": args.lora_alpha,
            "lora_dropout": args.lora_dropout,
            "device": args.device,
            "max_grad_norm": None,  # the plain loop does not clip either
            "num_threads": args.threads,
        }
        if args.target_modules:
            options["target_modules"] = args.target_modules
        spec = FineTuneSpec(
            base_model=str(args.model),
            training_file=args.data,
            n_epochs=50,
            batch_size=args.batch_size,
            learning_rate=2e-4,
            seed=0,
            options=options,
        )
        job = await provider.fine_tuner().start(spec)
        await job.wait(poll_interval=0.5)  # events are read afterwards, so this thread stays quiet
        steps = [e.data async for e in job.events() if e.type == "step"]
        await provider.aclose()
        return steps

    with tempfile.TemporaryDirectory() as home:
        steps = anyio.run(main, Path(home))
    if len(steps) != total:
        raise SystemExit(f"the trainer ran {len(steps)} steps, not {total}")
    first, last = steps[args.warmup - 1], steps[-1]
    return {
        "wall_s": (last["elapsed_s"] - first["elapsed_s"]) / args.steps,
        "cpu_s": (last["cpu_s"] - first["cpu_s"]) / args.steps,
        "first_loss": steps[0]["loss"],
    }


def run_plain(args: argparse.Namespace) -> dict[str, Any]:
    """The plain loop, in a thread as the trainer's worker is, so both have the same threading."""
    import threading

    result: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: result.append(plain_loop(args)))
    thread.start()
    thread.join()
    if not result:
        raise SystemExit("the plain loop failed")
    return result[0]


def plain_loop(args: argparse.Namespace) -> dict[str, Any]:
    """What one writes by hand: peft LoRA, AdamW, a linear schedule, model(..., labels=...).loss."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewise_local._chatdata import IGNORE, read_chat_jsonl, tokenize_conversation
    from tunewise_local._devices import resolve_device
    from tunewise_local._hyper import Hyperparameters

    device = resolve_device(args.device)
    total = args.warmup + args.steps
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    rows = [tokenize_conversation(tokenizer, m, max_length=args.max_length) for m in read_chat_jsonl(args.data)]
    model: Any = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=args.target_modules or Hyperparameters().target_modules,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config).to(device)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / total)
    # The trainer's batches in the trainer's order (seed 0: a seeded shuffle per epoch), so both pad alike.
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < total:
        order = list(range(len(rows)))
        random.Random(epoch).shuffle(order)
        batches += [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
        epoch += 1
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    marks: list[tuple[float, float]] = []
    losses: list[float] = []
    started, cpu_started = time.perf_counter(), time.thread_time()
    for step in range(total):
        batch = [rows[i] for i in batches[step]]
        width = max(len(r.input_ids) for r in batch)
        ids = torch.tensor([r.input_ids + [pad] * (width - len(r.input_ids)) for r in batch], device=device)
        labels = torch.tensor([r.labels + [IGNORE] * (width - len(r.labels)) for r in batch], device=device)
        mask = torch.tensor([[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in batch], device=device)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))  # read the loss, as any loop that logs it does (and as ours does)
        marks.append((time.perf_counter() - started, time.thread_time() - cpu_started))
    first, last = marks[args.warmup - 1], marks[-1]
    return {
        "wall_s": (last[0] - first[0]) / args.steps,
        "cpu_s": (last[1] - first[1]) / args.steps,
        "first_loss": losses[0],
    }


def child(args: argparse.Namespace) -> None:
    """One run in this process; a JSON line with its figures on stdout."""
    import torch
    from transformers.utils import logging

    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = run_ours(args) if args.child == "ours" else run_plain(args)
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(result), flush=True)


def spawn(side: str, model: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", side, "--model", str(model)]
    for name in ("data", "steps", "warmup", "batch_size", "max_length", "lora_r", "lora_alpha", "lora_dropout"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command += ["--device", args.device]
    if args.target_modules:
        command += ["--target-modules", *args.target_modules]
    if args.threads is not None:
        command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the {side} run on {model} failed (exit status {done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def build_tiny(directory: Path, args: argparse.Namespace) -> Path:
    from tunewise_local._chatdata import read_chat_jsonl
    from tunewise_local.tiny import build_tiny_model

    corpus = [m["content"] for conversation in read_chat_jsonl(args.data) for m in conversation]
    return build_tiny_model(
        directory,
        corpus,
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_heads=args.heads,
    )


def describe(model: Path) -> str:
    config = json.loads((model / "config.json").read_text())
    keys = ("model_type", "hidden_size", "num_hidden_layers", "vocab_size", "tie_word_embeddings")
    return " ".join(f"{k}={config.get(k)}" for k in keys)


def bench_model(model: Path, label: str, args: argparse.Namespace) -> float:
    """Alternating runs of both sides on ``model``; prints the figures, returns the wall-time ratio."""
    print(f"== {label}: {describe(model)}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "plain": []}
    for round_ in range(args.rounds):
        sides = ("ours", "plain") if round_ % 2 == 0 else ("plain", "ours")
        for side in sides:
            result = spawn(side, model, args)
            runs[side].append(result)
            print(
                f"   round {round_ + 1} {side:5}  {result['wall_s'] * 1000:9.1f} ms/step wall"
                f"  {result['cpu_s'] * 1000:9.1f} ms/step CPU  peak RSS {result['max_rss_mb']:7.0f} MB"
                f"  first loss {result['first_loss']:.5f}",
                flush=True,
            )
    threads = runs["ours"][0]["threads"]
    measures = [("wall", "wall_s")] + ([("CPU (training thread)", "cpu_s")] if threads == 1 else [])
    wall_ratio = 0.0
    for name, key in measures:
        ours = statistics.median(r[key] for r in runs["ours"])
        plain = statistics.median(r[key] for r in runs["plain"])
        ratios = [o[key] / p[key] for o, p in zip(runs["ours"], runs["plain"], strict=True)]
        print(
            f"   {name:22} ours {ours * 1000:9.1f} ms/step   plain {plain * 1000:9.1f} ms/step   "
            f"ratio ours/plain {ours / plain:.3f} (per round: {' '.join(f'{r:.3f}' for r in ratios)})"
        )
        if key == "wall_s":
            wall_ratio = ours / plain
    rss_ours = max(r["max_rss_mb"] for r in runs["ours"])
    rss_plain = max(r["max_rss_mb"] for r in runs["plain"])
    ratio = rss_ours / rss_plain
    print(f"   peak RSS               ours {rss_ours:7.0f} MB   plain {rss_plain:7.0f} MB   ratio {ratio:.3f}")
    losses = {side: runs[side][0]["first_loss"] for side in runs}
    agree = abs(losses["ours"] - losses["plain"]) <= 1e-4 * max(1.0, abs(losses["plain"]))
    print(f"   first-step loss        ours {losses['ours']:.6f}   plain {losses['plain']:.6f}   agree: {agree}")
    return wall_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", action="append", help="a model folder, or 'tiny' (repeatable; default: tiny)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="chat JSONL training file")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (at least 1)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, alternating")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=float, default=32.0)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--target-modules", nargs="+", help="default: the local fine-tuner's default")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared CPU)")
    parser.add_argument("--hidden", type=int, default=256, help="tiny model only")
    parser.add_argument("--layers", type=int, default=4, help="tiny model only")
    parser.add_argument("--heads", type=int, default=8, help="tiny model only")
    parser.add_argument("--vocab", type=int, default=2000, help="tiny model only")
    parser.add_argument("--child", choices=("ours", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if args.child:
        args.model = Path(args.model[0])
        child(args)
        return

    from tunewise_local._hyper import Hyperparameters

    targets = args.target_modules or Hyperparameters().target_modules
    print(
        f"data: {args.data}; batch={args.batch_size}; max_length={args.max_length}; LoRA r={args.lora_r} "
        f"alpha={args.lora_alpha:g} dropout={args.lora_dropout:g} on {targets}; {args.warmup} warm-up + "
        f"{args.steps} timed steps per run x {args.rounds} rounds; device={args.device}; torch threads={args.threads}",
        flush=True,
    )
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.model or ["tiny"]:
            if name == "tiny":
                model = build_tiny(Path(tmp) / "tiny", args)
                label = f"tiny (hidden={args.hidden} layers={args.layers} vocab~{args.vocab})"
            else:
                model, label = Path(name).expanduser(), name
            worst = max(worst, bench_model(model, label, args))
    sys.exit(0 if worst <= 1.05 else 1)


if __name__ == "__main__":
    main()

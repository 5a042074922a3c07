"""The training loop a fine-tune worker runs: LoRA (peft) or full, with checkpoints and resume.

It reads everything from the job directory and writes everything back there: events,
state, checkpoints and the final adapter with its metadata. It is a plain function so
the same code runs in a worker process (the default, which can be killed and resumed)
or in a thread.

Loss is summed over assistant tokens and divided by the number of assistant tokens in
the whole optimizer step (all gradient-accumulation micro-batches), so accumulation
gives the same gradient as one big batch.

Logits are computed only where a label counts: the model is asked, through
``logits_to_keep`` (a boolean mask over positions, which the Hugging Face causal-LM
heads accept), to apply its output head to the hidden states whose *next* token is a
target. Prompts, system messages and padding never reach the vocabulary-sized head,
a large share of a step on a small model with a large vocabulary (SmolLM2-135M, 49k
tokens, on chat data: a step about 12% faster, peak memory 10% lower; see
``bench/local_train.py``). A model whose forward does not take such a mask gets full
logits instead (found out on its first batch and remembered), with the same loss.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise import FineTuneSpec
from tunewise_local._chatdata import IGNORE, Example, file_sha256, read_chat_jsonl, tokenize_conversation
from tunewise_local._devices import resolve_device, resolve_dtype
from tunewise_local._hyper import Hyperparameters
from tunewise_local._jobdir import EventWriter, JobDir, write_json_atomic
from tunewise_local._loading import peft_quietly
from tunewise_local._version import __version__

METADATA_FILE = "tunewise_finetune.json"


class Cancelled(Exception):
    """The job was asked to stop."""


def run_job(root: Path, *, stop: Callable[[], bool] | None = None) -> None:
    """Train the job in ``root`` to the end (or from its last checkpoint), recording the outcome."""
    job = JobDir(root)
    events = EventWriter(job)
    should_stop = stop or job.cancel_requested
    try:
        job.update_state(status="running", pid=os.getpid())
        _train(job, events, should_stop)
    except Cancelled:
        if stop is not None and not job.cancel_requested():  # the process is exiting, not a cancel
            events.emit("Stopped with its process; attach to the job to resume", type="interrupted", level="warn")
            return  # the state stays "running" with a gone worker: the next attach resumes it
        events.emit("Job cancelled", type="cancelled", level="warn")
        job.update_state(status="cancelled", error="cancelled by user")
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        events.emit(f"Training failed: {message}", type="error", level="error")
        job.update_state(status="failed", error=message)


def split_examples(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded validation split; at least one example each side once there are 5 or more."""
    if fraction <= 0 or len(examples) < 5:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(examples) * fraction))
    val = set(order[:n_val])
    return [e for i, e in enumerate(examples) if i not in val], [examples[i] for i in sorted(val)]


def collate(batch: list[Example], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors for one micro-batch (labels ``IGNORE`` on padding)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, example in enumerate(batch):
        n = len(example.input_ids)
        ids[i, :n] = torch.tensor(example.input_ids)
        labels[i, :n] = torch.tensor(example.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def token_loss_sum(model: Any, batch: dict[str, Any]) -> Any:
    """Summed next-token cross-entropy over labelled tokens (divide by the step's token count).

    Equal to ``model(..., labels=labels).loss`` times the number of labelled tokens, but
    the output head runs only on the positions that predict a labelled token.
    """
    import torch

    following = batch["labels"][:, 1:]
    counts = following != IGNORE
    keep = torch.nn.functional.pad(counts, (0, 1), value=False)  # position p predicts the token at p + 1
    targets = following[counts]
    logits = _kept_logits(model, batch, keep, int(targets.numel()))
    return torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")


_KEEPS_MASKED_LOGITS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
"""Per model: whether its forward takes a boolean ``logits_to_keep`` mask (absent: not tried yet)."""


def _kept_logits(model: Any, batch: dict[str, Any], keep: Any, n_kept: int) -> Any:
    """Logits at the ``keep`` positions only, ``(n_kept, vocab)`` in row-major order of ``keep``."""
    import torch

    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "use_cache": False}
    known = _KEEPS_MASKED_LOGITS.get(model)
    if known is not False:
        try:
            logits = model(**inputs, logits_to_keep=keep).logits
        except torch.OutOfMemoryError:
            raise
        except (TypeError, ValueError, IndexError, RuntimeError):
            if known:
                raise  # it worked before: this is a real error, not a missing feature
            logits = None
        if logits is not None and logits.dim() == 2 and logits.size(0) == n_kept:
            _KEEPS_MASKED_LOGITS[model] = True
            return logits
        if known:
            raise RuntimeError(f"logits_to_keep gave logits of shape {tuple(logits.shape)}, not ({n_kept}, vocab)")
        _KEEPS_MASKED_LOGITS[model] = False
    return model(**inputs).logits[keep]


def _train(job: JobDir, events: EventWriter, should_stop: Callable[[], bool]) -> None:
    record = job.read_job()
    spec = FineTuneSpec.model_validate(record["spec"])
    hp = Hyperparameters.model_validate(record["hyperparameters"])
    if should_stop():
        raise Cancelled
    run, checkpoint = _start(job, events, spec, hp)
    if checkpoint is not None:
        _resume(run, checkpoint)
    else:
        _announce(run)
    _loop(run, should_stop)
    if run.val_rows and run.history.get("val_step") != run.step:
        _validation(run)
    if should_stop():
        raise Cancelled
    _finish(run, spec, prefix=record.get("provider", "local"))


@dataclass
class _Run:
    """One training run: its fixed parts, and its progress (what a checkpoint saves and a resume reads)."""

    job: JobDir
    events: EventWriter
    hp: Hyperparameters
    device: str
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    trainable: list[Any]
    train_rows: list[Example]
    val_rows: list[Example]
    pad_id: int
    total_steps: int
    step: int
    epoch: int
    batch_in_epoch: int
    history: dict[str, Any]
    tokens_seen: int
    compute_s: float  # wall-clock seconds of training steps over every resume: what prices a local fine-tune

    def progress(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "metrics": self.history,
            "tokens_seen": self.tokens_seen,
            "compute_s": self.compute_s,
        }


def _start(job: JobDir, events: EventWriter, spec: FineTuneSpec, hp: Hyperparameters) -> tuple[_Run, Path | None]:
    """Device, seed, model, data, optimizer and schedule; the progress of the latest checkpoint, if any."""
    import torch

    device = resolve_device(hp.device)
    dtype = resolve_dtype(hp.dtype, device, full_training=hp.method == "full")
    checkpoint = job.latest_checkpoint()
    state: dict[str, Any] = {}
    if checkpoint is not None:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
    torch.manual_seed(hp.seed)
    if hp.num_threads is not None:
        torch.set_num_threads(hp.num_threads)

    model, tokenizer = _load_for_training(spec, hp, device, dtype, checkpoint)
    train_rows, val_rows = _dataset(spec, hp, tokenizer)
    steps_per_epoch = math.ceil(len(train_rows) / (hp.batch_size * hp.gradient_accumulation_steps))
    total_steps = steps_per_epoch * hp.n_epochs
    if hp.max_steps is not None:
        total_steps = min(total_steps, hp.max_steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=hp.learning_rate, weight_decay=hp.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total_steps, int(total_steps * hp.warmup_ratio)))
    run = _Run(
        job=job,
        events=events,
        hp=hp,
        device=device,
        model=model,
        tokenizer=tokenizer,
        optimizer=optimizer,
        scheduler=scheduler,
        trainable=trainable,
        train_rows=train_rows,
        val_rows=val_rows,
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        total_steps=total_steps,
        step=int(state.get("step", 0)),
        epoch=int(state.get("epoch", 0)),
        batch_in_epoch=int(state.get("batch_in_epoch", 0)),
        history=state.get("metrics", {"initial_val_loss": None, "val_loss": None}),
        tokens_seen=int(state.get("tokens_seen", 0)),
        compute_s=float(state.get("compute_s", 0.0)),
    )
    return run, checkpoint


def _schedule(total_steps: int, warmup: int) -> Callable[[int], float]:
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total_steps``."""

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return schedule


def _resume(run: _Run, checkpoint: Path) -> None:
    """Optimizer, schedule and random state as the checkpoint left them."""
    import torch

    run.optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    run.scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=True))
    torch.set_rng_state(torch.load(checkpoint / "rng.pt", weights_only=True))
    if (checkpoint / "cuda_rng.pt").is_file() and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(torch.load(checkpoint / "cuda_rng.pt", weights_only=True))
    run.events.emit(
        f"Resumed from checkpoint at step {run.step}", type="resumed", step=run.step, checkpoint=str(checkpoint)
    )


def _announce(run: _Run) -> None:
    """The start of a fresh run, and the validation loss before any step."""
    train, val = len(run.train_rows), len(run.val_rows)
    base = f" on a 4-bit ({run.hp.bnb_4bit_quant_type}) base" if run.hp.load_in_4bit else ""
    run.events.emit(
        f"Training {run.hp.method}{base} on {train} examples ({val} held out) for {run.total_steps} steps"
        f" on {run.device}",
        type="started",
        method=run.hp.method,
        load_in_4bit=run.hp.load_in_4bit,
        train_examples=train,
        val_examples=val,
        total_steps=run.total_steps,
        device=run.device,
        trainable_parameters=sum(p.numel() for p in run.trainable),
    )
    if run.val_rows:
        loss = _evaluate(run.model, run.val_rows, run.hp.batch_size, run.pad_id, run.device)
        run.history["initial_val_loss"] = run.history["val_loss"] = loss
        run.events.emit(f"Step 0: validation loss={loss:.4f}", type="metrics", step=0, val_loss=loss)


def _loop(run: _Run, should_stop: Callable[[], bool]) -> None:
    """Optimizer steps until the step budget or the last epoch, with validation and checkpoints when due."""
    hp = run.hp
    run.model.train()
    started, cpu_started = time.perf_counter(), time.thread_time()
    windows = _windows(len(run.train_rows), hp.batch_size, hp, run.epoch)
    while run.step < run.total_steps and run.epoch < hp.n_epochs:
        if should_stop():
            raise Cancelled
        step_tokens, elapsed = _step(run, windows[run.batch_in_epoch])
        run.events.emit(
            f"Step {run.step}/{run.total_steps}: training loss={run.history['train_loss']:.4f}",
            type="step",
            step=run.step,
            total_steps=run.total_steps,
            epoch=run.epoch + 1,
            loss=run.history["train_loss"],
            learning_rate=run.scheduler.get_last_lr()[0],
            tokens=step_tokens,
            tokens_per_s=step_tokens / elapsed if elapsed > 0 else None,
            step_time_s=elapsed,
            elapsed_s=time.perf_counter() - started,
            cpu_s=time.thread_time() - cpu_started,
        )
        epoch_end = run.batch_in_epoch >= len(windows)
        if epoch_end:
            run.epoch, run.batch_in_epoch = run.epoch + 1, 0
            windows = _windows(len(run.train_rows), hp.batch_size, hp, run.epoch)
        if run.val_rows and ((hp.eval_every and run.step % hp.eval_every == 0) or (not hp.eval_every and epoch_end)):
            _validation(run)
        due = run.step % hp.checkpoint_every == 0 if hp.checkpoint_every else epoch_end
        if due and run.step < run.total_steps and run.epoch < hp.n_epochs:
            _save_checkpoint(run.job, run.model, run.optimizer, run.scheduler, hp, run.progress())
            run.events.emit(f"Checkpoint at step {run.step}", type="checkpoint", step=run.step)


def _step(run: _Run, window: list[list[int]]) -> tuple[int, float]:
    """One optimizer step over a window of micro-batches; returns its tokens and its seconds."""
    import torch

    step_started = time.perf_counter()
    batches = [[run.train_rows[i] for i in mb] for mb in window]
    n_tokens = sum(e.target_tokens for mb in batches for e in mb)
    loss_total = 0.0
    step_tokens = 0
    for mb in batches:
        batch = {k: v.to(run.device) for k, v in collate(mb, run.pad_id).items()}
        loss = token_loss_sum(run.model, batch) / max(1, n_tokens)
        loss.backward()
        loss_total += float(loss.detach())
        step_tokens += int(batch["attention_mask"].sum())
    if run.hp.max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(run.trainable, run.hp.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    run.batch_in_epoch += 1
    run.tokens_seen += step_tokens
    run.history["train_loss"] = loss_total
    elapsed = time.perf_counter() - step_started
    run.compute_s += elapsed
    return step_tokens, elapsed


def _validation(run: _Run) -> None:
    _validation_event(
        run.events, run.history, run.model, run.val_rows, run.hp.batch_size, run.pad_id, run.device, run.step
    )


def _finish(run: _Run, spec: FineTuneSpec, *, prefix: str) -> None:
    """Save the trained model with its metrics, drop the checkpoints, and mark the job succeeded."""
    from tunewise_local._clock import device_kind

    run.model.eval()
    output = _output_dir(run.job, run.hp)
    metrics = {
        **run.history,
        "steps": run.step,
        "tokens_seen": run.tokens_seen,
        "train_loss": run.history.get("train_loss"),
        "compute_s": run.compute_s,
        "compute_device": device_kind(str(run.device)),
        **_peak_memory(run.device),
    }
    ref = _save_result(run.model, run.tokenizer, spec, run.hp, output, metrics, prefix=prefix)
    shutil.rmtree(run.job.checkpoints, ignore_errors=True)  # optimizer states are large; the result is saved
    run.events.emit(f"Training finished; model saved to {output}", type="succeeded", model=ref, **metrics)
    run.job.update_state(status="succeeded", result={"model": ref, "output_dir": str(output), "metrics": metrics})


def _peak_memory(device: str) -> dict[str, int]:
    """``peak_gpu_memory_bytes``: the most GPU memory torch held at once in this worker (on CUDA only).

    A resumed worker counts from its own start. ``bench/qlora_gpu.py`` reads it to compare QLoRA with LoRA.
    """
    if not device.startswith("cuda"):
        return {}
    import torch

    return {"peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated(device))}


def _windows(n_rows: int, micro: int, hp: Hyperparameters, epoch: int) -> list[list[list[int]]]:
    """The optimizer steps of one epoch: seeded shuffle, micro-batches, grouped for accumulation."""
    order = list(range(n_rows))
    random.Random(hp.seed * 1000 + epoch).shuffle(order)
    micro_batches = [order[i : i + micro] for i in range(0, n_rows, micro)]
    size = hp.gradient_accumulation_steps
    return [micro_batches[i : i + size] for i in range(0, len(micro_batches), size)]


def _validation_event(
    events: EventWriter,
    history: dict[str, Any],
    model: Any,
    rows: list[Example],
    micro: int,
    pad_id: int,
    device: str,
    step: int,
) -> None:
    history["val_loss"] = _evaluate(model, rows, micro, pad_id, device)
    history["val_step"] = step
    loss = history["val_loss"]
    events.emit(f"Step {step}: validation loss={loss:.4f}", type="metrics", step=step, val_loss=loss)


def _evaluate(model: Any, rows: list[Example], micro: int, pad_id: int, device: str) -> float:
    """Mean loss per assistant token over ``rows``."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(rows), micro):
            chunk = rows[i : i + micro]
            batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items()}
            total += float(token_loss_sum(model, batch))
            count += sum(e.target_tokens for e in chunk)
    if was_training:
        model.train()
    return total / max(1, count)


def _load_for_training(
    spec: FineTuneSpec, hp: Hyperparameters, device: str, dtype: Any, checkpoint: Path | None
) -> tuple[Any, Any]:
    """The tokenizer and the model to train: the base (in 4 bits for QLoRA) with LoRA adapters, or all of it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewise_local._loading import LOAD_LOCK, check_model_dir, split_model_name

    base, adapter = split_model_name(spec.base_model)
    if adapter is not None:
        raise ValueError("fine-tune a base model, not base+adapter (merge the adapter first)")
    base_path = Path(base).expanduser()
    check_model_dir(base_path)
    common: dict[str, Any] = {"trust_remote_code": hp.trust_remote_code, "local_files_only": True}
    placement: dict[str, Any] = {}
    if hp.load_in_4bit:  # bitsandbytes places the 4-bit weights itself: a quantized model cannot be moved after
        from tunewise_local._quantize import quantization_config

        placement = {"quantization_config": quantization_config(hp, dtype), "device_map": {"": device}}
    with LOAD_LOCK:  # see LOAD_LOCK: thread workers and providers load in one process
        tokenizer = AutoTokenizer.from_pretrained(base_path, **common)
        source = checkpoint if (checkpoint is not None and hp.method == "full") else base_path
        model: Any = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype, use_safetensors=True, **common, **placement
        )
    _prepare_for_training(model, hp)
    if hp.method == "lora":
        model = _with_lora(model, hp, checkpoint)
    if not hp.load_in_4bit:
        model.to(device)
    return model, tokenizer


def _prepare_for_training(model: Any, hp: Hyperparameters) -> None:
    """Gradient checkpointing when asked; a 4-bit base also gets peft's k-bit preparation."""
    if hp.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        # Freezes the base, keeps the unquantized layers (norms, embeddings) in float32 for stable training,
        # and (with checkpointing) lets the gradient flow back through the frozen input embeddings.
        with peft_quietly():
            prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
                model,
                use_gradient_checkpointing=hp.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False},
            )
        return
    if hp.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hp.method == "lora":
            model.enable_input_require_grads()  # frozen embeddings would otherwise cut the gradient


def _with_lora(model: Any, hp: Hyperparameters, checkpoint: Path | None) -> Any:
    """``model`` with LoRA adapters of ``hp``'s shape, restored from ``checkpoint`` when resuming."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    layers: list[int] | None = None
    if hp.lora_layers is not None:
        total = int(getattr(model.config, "num_hidden_layers", 0) or 0)
        if total < 1:
            raise ValueError("options.lora_layers: the model's config has no num_hidden_layers")
        layers = list(range(max(0, total - hp.lora_layers), total))
    targets = hp.target_modules
    if layers is not None and targets == "all-linear":  # peft takes layers only with named modules
        targets = _linear_names(model)
    config = LoraConfig(
        r=hp.lora_r,
        lora_alpha=hp.lora_alpha,  # type: ignore[arg-type]  # peft takes any number
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )
    with peft_quietly():
        model = get_peft_model(model, config)
    if checkpoint is not None:
        set_peft_model_state_dict(model, load_file(checkpoint / "adapter_model.safetensors"))
    return model


def _dataset(spec: FineTuneSpec, hp: Hyperparameters, tokenizer: Any) -> tuple[list[Example], list[Example]]:
    def tokenize(path: Path) -> list[Example]:
        from tunewise import DataError

        rows = []
        for number, messages in enumerate(read_chat_jsonl(path), start=1):
            try:
                rows.append(tokenize_conversation(tokenizer, messages, max_length=hp.max_length))
            except DataError as exc:
                raise DataError(exc.reason, path=path, line=number, field=exc.field) from None
        return rows

    train = tokenize(spec.training_file)
    if spec.validation_file is not None:
        return train, tokenize(spec.validation_file)
    return split_examples(train, hp.validation_split, hp.seed)


def _linear_names(model: Any) -> list[str]:
    """The names of the linear layers inside the transformer blocks (what peft's ``all-linear`` adapts)."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"
    }
    return sorted(names)


def _save_checkpoint(
    job: JobDir, model: Any, optimizer: Any, scheduler: Any, hp: Hyperparameters, state: dict[str, Any]
) -> None:
    import torch

    job.checkpoints.mkdir(parents=True, exist_ok=True)
    final = job.checkpoints / f"step-{state['step']:08d}"
    tmp = job.checkpoints / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(torch.get_rng_state(), tmp / "rng.pt")
    if torch.cuda.is_available():
        torch.save(torch.cuda.get_rng_state_all(), tmp / "cuda_rng.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    kept = sorted(p for p in job.checkpoints.iterdir() if p.name.startswith("step-"))
    for old in kept[: -hp.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _output_dir(job: JobDir, hp: Hyperparameters) -> Path:
    if hp.output_dir:
        return Path(hp.output_dir).expanduser().resolve()
    return job.root / ("adapter" if hp.method == "lora" else "model")


def _save_result(
    model: Any,
    tokenizer: Any,
    spec: FineTuneSpec,
    hp: Hyperparameters,
    output: Path,
    metrics: dict[str, Any],
    *,
    prefix: str,
) -> str:
    """Write the adapter (or full model) and its metadata; return the model reference to use it."""
    from tunewise import ModelRef
    from tunewise_local._loading import split_model_name

    base = str(Path(split_model_name(spec.base_model)[0]).expanduser().resolve())
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    if hp.method == "full":
        tokenizer.save_pretrained(output)
    metadata = {
        "created_at": time.time(),
        "tunewise_local": __version__,
        "base_model": base,
        "method": hp.method,
        "training_file": str(spec.training_file),
        "validation_file": str(spec.validation_file) if spec.validation_file else None,
        "dataset_sha256": file_sha256(spec.training_file, spec.validation_file),
        "hyperparameters": hp.model_dump(),
        "metrics": metrics,
    }
    write_json_atomic(output / METADATA_FILE, metadata)
    ref = ModelRef(prefix, base, str(output)) if hp.method == "lora" else ModelRef(prefix, str(output))
    return str(ref)

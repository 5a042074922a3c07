"""The demo's own model: a tiny Llama-style chat model trained here from the example's text.

No pretrained chat model can be downloaded offline, so the demo builds one with
the local plugin's ``build_tiny_model`` from the knowledge base and the *training* conversations only
(never dev or test, so the ladder's scores stay honest). It is cached in the demo's
output folder: built into a temporary folder and renamed when complete, so a demo killed
while building starts the build again and a finished one is reused.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tunewise._errors import ConfigError, DataError
from tunewise._jsonl import iter_jsonl_objects

if TYPE_CHECKING:
    from tunewise.interfaces.provider import LocalModels

MARKER = "tunewise_tiny.json"
"""Written last by ``build_tiny_model``: its presence means the model folder is complete."""


@dataclass(frozen=True)
class TinyModelSpec:
    """The demo model's shape and pre-training; part of the cache key."""

    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    max_positions: int = 4096
    """Room for the optimizer's meta-prompt and few-shot prompts (RoPE: no extra weights)."""
    pretrain_steps: int = 150
    """AdamW steps of next-token prediction on packed blocks of the corpus."""
    block_size: int = 128
    batch_size: int = 8
    learning_rate: float = 3e-3
    threads: int = 1
    """Torch CPU threads while pre-training: a model this small gains nothing from more, and on a
    shared machine a second thread spin-waiting for a busy core made each step ~10x slower (measured)."""
    max_chars: int = 1200
    """Corpus passages are cut to this many characters (the pre-training pads to the longest)."""
    seed: int = 0


KB_QUESTION = "Tell me about Lumen."
"""The user turn a knowledge-base paragraph answers during pre-training."""


def corpus(example: Path, train_file: Path, *, max_chars: int = 1200) -> list[str]:
    """Passages to train on: knowledge-base paragraphs and the training conversations' turns.

    A knowledge-base article is split at blank lines; each user question and assistant
    answer of ``train_file`` (chat JSONL) is one passage. A bad line is a one-line
    [`DataError`][tunewise.DataError] naming the file and line.
    """
    docs = documents(example, train_file, max_chars=max_chars)
    return [m["content"] for doc in docs for m in doc if m["content"] != KB_QUESTION]


def documents(example: Path, train_file: Path, *, max_chars: int = 1200) -> list[list[dict[str, str]]]:
    """Chat conversations to pre-train on.

    Each knowledge-base paragraph as the answer to `KB_QUESTION`, then each training conversation
    split into user/assistant pairs.
    """
    docs: list[list[dict[str, str]]] = []
    kb = example / "kb"
    for article in sorted(kb.glob("*.md")) if kb.is_dir() else []:
        for paragraph in _paragraphs(article.read_text(encoding="utf-8"), max_chars):
            docs.append([{"role": "user", "content": KB_QUESTION}, {"role": "assistant", "content": paragraph}])
    for number, row in iter_jsonl_objects(train_file):
        try:
            turns = [
                (str(m["role"]), str(m["content"]))
                for m in row["messages"]
                if m.get("role") in ("user", "assistant") and m.get("content")
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(
                f"not a chat conversation ({exc})", path=train_file, line=number, field="messages"
            ) from None
        for (role, question), (next_role, answer) in itertools.pairwise(turns):
            if role == "user" and next_role == "assistant":
                docs.append(
                    [
                        {"role": "user", "content": question[:max_chars]},
                        {"role": "assistant", "content": answer[:max_chars]},
                    ]
                )
    if not docs:
        raise DataError(f"{example}: no knowledge base articles or training conversations to train the demo model on")
    return docs


def _paragraphs(text: str, max_chars: int) -> Iterable[str]:
    for block in text.split("\n\n"):
        block = block.strip()
        while block:
            yield block[:max_chars]
            block = block[max_chars:].strip()


def local_models() -> LocalModels:
    """The ``local`` plugin's `LocalModels` (from `tunewise.plugin`): the demo builds and serves its model with them."""
    from tunewise._registry import load_plugin

    hook = load_plugin("local").local_models
    if hook is None:
        raise ConfigError("the demo needs the 'local' plugin's local models; install tunewise-local")
    return hook()


def _key(docs: list[list[dict[str, str]]], spec: TinyModelSpec) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([asdict(spec), docs]).encode()).hexdigest()[:16]


def is_built(directory: Path, docs: list[list[dict[str, str]]], spec: TinyModelSpec) -> bool:
    """Whether ``directory`` holds a complete demo model built from these documents and settings."""
    stamp = directory / "demo_model.json"
    return (
        (directory / MARKER).is_file()
        and stamp.is_file()
        and json.loads(stamp.read_text(encoding="utf-8")).get("key") == _key(docs, spec)
    )


def ensure_tiny_model(
    directory: Path,
    docs: list[list[dict[str, str]]],
    spec: TinyModelSpec = TinyModelSpec(),
    *,
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[Path, bool]:
    """The model folder, building it when missing or built from other documents/settings; ``(path, built_now)``.

    ``on_step(step, steps, loss)`` is called after each pre-training step (for a progress bar).
    """
    key = _key(docs, spec)
    if is_built(directory, docs, spec):
        return directory, False
    build_tiny_model = local_models().build_tiny_model
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build_tiny_model(
        partial,
        [m["content"] for doc in docs for m in doc],
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        num_heads=spec.num_heads,
        max_position_embeddings=spec.max_positions,
        seed=spec.seed,
    )
    loss = pretrain(partial, docs, spec, on_step=on_step) if spec.pretrain_steps > 0 else None
    (partial / "demo_model.json").write_text(
        json.dumps({"key": key, "spec": asdict(spec), "documents": len(docs), "final_loss": loss}, indent=2),
        encoding="utf-8",
    )
    shutil.rmtree(directory, ignore_errors=True)
    partial.rename(directory)
    return directory, True


def pretrain(
    directory: Path,
    docs: list[list[dict[str, str]]],
    spec: TinyModelSpec,
    *,
    on_step: Callable[[int, int, float], None] | None = None,
) -> float:
    """Causal-LM pre-training of the model in ``directory`` on ``docs``, saved in place; returns the last loss.

    The conversations are rendered with the chat template, tokenized, concatenated and cut
    into ``block_size`` blocks (packing: no step is spent on padding), then trained with
    AdamW under a linear warm-up and decay.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(spec.threads)
    try:
        return _pretrain(directory, docs, spec, on_step)
    finally:
        torch.set_num_threads(threads)


def _pretrain(
    directory: Path,
    docs: list[list[dict[str, str]]],
    spec: TinyModelSpec,
    on_step: Callable[[int, int, float], None] | None,
) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForCausalLM.from_pretrained(directory)
    order = torch.randperm(len(docs)).tolist()
    stream: list[int] = []
    for index in order:
        text = tokenizer.apply_chat_template(docs[index], tokenize=False)
        stream.extend(tokenizer(text, add_special_tokens=False)["input_ids"])
    blocks = max(len(stream) // spec.block_size, 1)
    data = torch.tensor((stream * 2)[: blocks * spec.block_size]).view(blocks, spec.block_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.0)
    warmup = max(spec.pretrain_steps // 10, 1)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min((step + 1) / warmup, max(spec.pretrain_steps - step, 1) / (spec.pretrain_steps - warmup + 1)),
    )
    model.train()
    loss_value = float("nan")
    for step in range(spec.pretrain_steps):
        pick = torch.randint(0, blocks, (min(spec.batch_size, blocks),))
        batch = data[pick]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        loss_value = float(loss.item())
        if on_step is not None:
            on_step(step + 1, spec.pretrain_steps, loss_value)
    model.eval()  # type: ignore[no-untyped-call]
    from transformers.utils import logging

    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model.save_pretrained(directory)
    finally:
        if bars:
            logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    return loss_value

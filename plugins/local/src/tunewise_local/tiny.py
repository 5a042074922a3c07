"""Build a tiny chat model from text, with no download: for tests, demos and offline CI.

[`build_tiny_model()`][tunewise_local.build_tiny_model] trains a byte-level BPE tokenizer on the given texts (the
``tokenizers`` library), writes a small Llama-style config and a Jinja chat template,
optionally pre-trains the weights for a few steps on the same texts, and saves it all
as safetensors in a directory that works as ``local:<dir>``. It takes seconds on a CPU.

The model is far too small to be useful for anything but proving that the machinery
works end to end: loading, chat templates, batching, streaming, LoRA and full
fine-tuning behave exactly as they do on a real model.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise import ConfigError

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + (message['content'] or '') + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
"""System, user and assistant turns, each closed by ``<|end|>`` (the end-of-sequence token)."""

SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<s>",
    "<|end|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|developer|>",
    "<|tool|>",
)

DEFAULT_CORPUS: tuple[str, ...] = (
    "Hello! How can I help you today?",
    "Our refund policy: you can return any item within 30 days for a full refund.",
    "To reset your password, open Settings, choose Security and press Reset password.",
    "Shipping is free for orders over fifty euros and takes three to five working days.",
    "Support is open Monday to Friday from nine to five, and on Saturday mornings.",
    "You can change your plan at any time; the new price applies from the next month.",
    "Invoices are sent by email and can also be downloaded from the Billing page.",
    "If a parcel arrives damaged, send us a photo and we will replace it at no cost.",
    "The quick brown fox jumps over the lazy dog. A stitch in time saves nine.",
    "Thank you for your message. We will get back to you within one working day.",
    "Two factor authentication protects your account with a code sent to your phone.",
    "Gift cards never expire and can be combined with any other discount code.",
)
"""A few sentences in a customer-support voice, used when no corpus is given."""


def build_tokenizer(texts: Iterable[str], directory: str | Path, *, vocab_size: int = 512) -> Path:
    """Train a byte-level BPE tokenizer on ``texts`` and save it, with the chat template, to ``directory``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="<|end|>",
        pad_token="<pad>",
        padding_side="left",
        model_max_length=2048,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return out


MAX_SIZE = {"vocab_size": 262_144, "hidden_size": 4096, "num_layers": 64, "num_heads": 64}
"""Upper bounds of `build_tiny_model()`'s shape: a tiny model, built on a CPU in seconds."""


@dataclass(frozen=True)
class TinyShape:
    """The shape of a tiny model and how it is built, checked once when made.

    A shape no model can have is a one-line [`ConfigError`][tunewise.ConfigError] naming the
    field, raised before anything is written.
    """

    vocab_size: int = 512
    """BPE vocabulary size, special tokens included."""
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int | None = None
    """The MLP width; None: ``4 * hidden_size``."""
    max_position_embeddings: int = 1024
    """The longest sequence the model takes."""
    pretrain_steps: int = 0
    """Causal-LM steps on the texts (as chat turns) before saving; 0 leaves random weights."""
    seed: int = 0
    """Makes the weights and the pre-training reproducible."""

    def __post_init__(self) -> None:
        """Check every size: whole numbers in range, heads of an even size; a bad one is a one-line ConfigError."""
        smallest = 256 + len(SPECIAL_TOKENS)  # the byte alphabet and the special tokens
        lowest = {"vocab_size": smallest, "hidden_size": 2, "num_layers": 1, "num_heads": 1}
        lowest |= {"intermediate_size": 1, "max_position_embeddings": 16, "pretrain_steps": 0, "seed": 0}
        for name, low in lowest.items():
            value = getattr(self, name)
            if value is None and name == "intermediate_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")
            high = MAX_SIZE.get(name)
            if high is not None and value > high:
                raise ConfigError(f"{name} must be at most {high} for a tiny model, got {value}")
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            raise ConfigError(
                f"hidden_size ({self.hidden_size}) must split into num_heads ({self.num_heads}) heads of an even size "
                "(rotary position embeddings need pairs)"
            )

    @classmethod
    def of(cls, **fields: Any) -> TinyShape:
        """A shape from keyword arguments; an unknown name is a one-line ConfigError naming the closest."""
        from tunewise.plugin import did_you_mean

        known = [f.name for f in dataclasses.fields(cls)]
        for name in fields:
            if name not in known:
                raise ConfigError(
                    f"build_tiny_model: unknown setting {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}"
                )
        return cls(**fields)


def build_tiny_model(
    directory: str | Path, texts: Sequence[str] | None = None, shape: TinyShape | None = None, **fields: Any
) -> Path:
    """Write a tiny Llama-style chat model to ``directory`` and return its path.

    Args:
        directory: where to write (created); use it as ``local:<directory>``.
        texts: the corpus for the tokenizer and the optional pre-training
            (default [`DEFAULT_CORPUS`][tunewise_local.tiny.DEFAULT_CORPUS]).
        shape: the model's shape and build settings, as a [`TinyShape`][tunewise_local.tiny.TinyShape].
        **fields: or [`TinyShape`][tunewise_local.tiny.TinyShape]'s fields one by one (``vocab_size``,
            ``hidden_size``, ``num_layers``, ``num_heads``, ``intermediate_size``,
            ``max_position_embeddings``, ``pretrain_steps``, ``seed``).

    Raises:
        ConfigError: for a shape no model can have, before anything is written.
    """
    if shape is not None and fields:
        raise ConfigError(f"build_tiny_model: give a shape or its fields ({', '.join(fields)}), not both")
    shape = shape if shape is not None else TinyShape.of(**fields)
    corpus = list(texts) if texts else list(DEFAULT_CORPUS)
    out = build_tokenizer(corpus, directory, vocab_size=shape.vocab_size)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = _initial_model(shape, tokenizer)
    if shape.pretrain_steps > 0:
        _pretrain(model, tokenizer, corpus, steps=shape.pretrain_steps, seed=shape.seed)
    _save_quietly(model, out)
    manifest = {
        "built_by": "tunewise_local.tiny.build_tiny_model",
        "vocab_size": len(tokenizer),
        "hidden_size": shape.hidden_size,
        "num_layers": shape.num_layers,
        "num_heads": shape.num_heads,
        "pretrain_steps": shape.pretrain_steps,
        "seed": shape.seed,
        "corpus_texts": len(corpus),
    }
    (out / "tunewise_tiny.json").write_text(json.dumps(manifest, indent=2))
    return out


def _initial_model(shape: TinyShape, tokenizer: Any) -> Any:
    """A Llama model of ``shape`` with seeded random weights, its special tokens the tokenizer's."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size or 4 * shape.hidden_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads,
        max_position_embeddings=shape.max_position_embeddings,
        tie_word_embeddings=True,
        **special,
    )
    torch.manual_seed(shape.seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(**special)  # type: ignore[no-untyped-call]
    return model


def _save_quietly(model: Any, out: Path) -> None:
    """``save_pretrained`` without a progress bar: a tiny model needs none, and CLI output stays clean."""
    from transformers.utils import logging

    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        model.save_pretrained(out)
    finally:
        if bars:
            logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _pretrain(model: Any, tokenizer: Any, texts: list[str], *, steps: int, seed: int) -> None:
    """A few AdamW steps of next-token prediction on ``texts`` wrapped as assistant turns."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (5x on a busy 2-core machine)
    try:
        _pretrain_steps(model, tokenizer, texts, steps=steps, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _pretrain_steps(model: Any, tokenizer: Any, texts: list[str], *, steps: int, seed: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    rows = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "Tell me something."}, {"role": "assistant", "content": text}],
            tokenize=False,
        )
        for text in texts
    ]
    batch = tokenizer(rows, return_tensors="pt", padding=True, padding_side="right", add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    size = min(16, len(rows))
    for _ in range(steps):
        pick = torch.randperm(len(rows), generator=generator)[:size]
        loss = model(
            input_ids=batch["input_ids"][pick], attention_mask=batch["attention_mask"][pick], labels=labels[pick]
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


__all__ = ["CHAT_TEMPLATE", "DEFAULT_CORPUS", "SPECIAL_TOKENS", "TinyShape", "build_tiny_model", "build_tokenizer"]

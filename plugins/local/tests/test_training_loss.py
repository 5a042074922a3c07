"""The training loss: logits only where labels count, equal to ``model(..., labels=...).loss``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunewise_local._chatdata import IGNORE, Example, tokenize_conversation
from tunewise_local._training import _KEEPS_MASKED_LOGITS, _evaluate, collate, token_loss_sum

CONVERSATIONS: tuple[list[dict[str, Any]], ...] = (
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the refund window?"},
        {"role": "assistant", "content": "Thirty days, full refund."},
    ],
    [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help you today?", "weight": 0},
        {"role": "user", "content": "How do I reset my password?"},
        {"role": "assistant", "content": "Settings, Security, Reset password."},
    ],
    [
        {"role": "user", "content": "When is support open?"},
        {"role": "assistant", "content": "Monday to Friday."},
        {"role": "user", "content": "And on Saturday?"},
        {"role": "assistant", "content": "On Saturday mornings, from nine."},
    ],
    [{"role": "user", "content": "Gift cards?"}, {"role": "assistant", "content": "They never expire."}],
)


@pytest.fixture(scope="module")
def examples(tiny_model: Path) -> list[Example]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    return [tokenize_conversation(tokenizer, m, max_length=256) for m in CONVERSATIONS]


def load(tiny_model: Path, *, lora: bool, checkpointing: bool = False) -> Any:
    """The tiny model as the trainer trains it, with LoRA's B moved off zero so adapters matter."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model: Any = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if lora:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, config)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.normal_(std=0.05)
    model.train()
    return model


def gradients(model: Any) -> dict[str, Any]:
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


def reference(model: Any, batch: dict[str, Any]) -> Any:
    """The standard loss: full logits, transformers' own shift and mean over labelled tokens."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss


def assert_same_loss_and_gradients(model: Any, batch: dict[str, Any]) -> None:
    import torch

    n_targets = int((batch["labels"][:, 1:] != IGNORE).sum())
    ours = token_loss_sum(model, batch) / n_targets
    ours.backward()
    ours_grads = gradients(model)
    expected = reference(model, batch)
    expected.backward()
    expected_grads = gradients(model)
    torch.testing.assert_close(ours.detach(), expected.detach(), rtol=1e-5, atol=1e-6)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(ours_grads) == set(expected_grads) == trainable
    for name, grad in expected_grads.items():
        torch.testing.assert_close(ours_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_lora_loss_and_gradients_equal_the_labels_loss(
    tiny_model: Path, examples: list[Example], checkpointing: bool
) -> None:
    model = load(tiny_model, lora=True, checkpointing=checkpointing)
    batch = collate(examples, pad_id=0)  # right-padded: rows of different lengths
    assert_same_loss_and_gradients(model, batch)
    assert _KEEPS_MASKED_LOGITS[model] is True


def test_full_fine_tuning_loss_and_gradients_equal_the_labels_loss(tiny_model: Path, examples: list[Example]) -> None:
    model = load(tiny_model, lora=False)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # tied: both paths add up
    assert_same_loss_and_gradients(model, collate(examples, pad_id=0))


def test_the_output_head_sees_only_positions_that_predict_a_target(tiny_model: Path, examples: list[Example]) -> None:
    model = load(tiny_model, lora=True)
    batch = collate(examples, pad_id=0)
    rows: list[tuple[int, ...]] = []
    head = model.get_base_model().get_output_embeddings()
    handle = head.register_forward_hook(lambda module, args, output: rows.append(tuple(args[0].shape)))
    try:
        token_loss_sum(model, batch).backward()
    finally:
        handle.remove()
    n_targets = sum(e.target_tokens for e in examples)  # the first token is never a label
    positions = batch["input_ids"].numel()
    assert rows == [(n_targets, head.in_features)]
    assert n_targets < positions / 2  # prompts and padding never reach the head


class NoLogitsToKeep:
    """A causal LM whose forward takes no ``logits_to_keep`` (older or remote-code models)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0

    def __call__(self, *, input_ids: Any, attention_mask: Any, use_cache: bool) -> Any:
        self.calls += 1
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=use_cache)


def test_a_model_without_masked_logits_gets_full_logits_and_the_same_loss(
    tiny_model: Path, examples: list[Example]
) -> None:
    import torch

    model = load(tiny_model, lora=True)
    batch = collate(examples, pad_id=0)
    wrapped = NoLogitsToKeep(model)
    first = token_loss_sum(wrapped, batch)
    assert _KEEPS_MASKED_LOGITS[wrapped] is False
    assert wrapped.calls == 1  # the logits_to_keep call failed before running the model
    second = token_loss_sum(wrapped, batch)
    assert wrapped.calls == 2  # not tried again
    n_targets = sum(e.target_tokens for e in examples)
    expected = reference(model, batch) * n_targets
    torch.testing.assert_close(first.detach(), expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(second.detach(), expected.detach(), rtol=1e-5, atol=1e-5)


def test_a_batch_without_targets_has_zero_loss_and_zero_gradients(tiny_model: Path, examples: list[Example]) -> None:
    model = load(tiny_model, lora=True)
    context = [Example(input_ids=e.input_ids, labels=[IGNORE] * len(e.labels)) for e in examples[:2]]
    loss = token_loss_sum(model, collate(context, pad_id=0))
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert all(float(g.abs().sum()) == 0.0 for g in gradients(model).values())


def test_validation_loss_is_the_mean_labels_loss_over_target_tokens(tiny_model: Path, examples: list[Example]) -> None:
    import torch

    model = load(tiny_model, lora=True)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), 3):
            chunk = examples[i : i + 3]
            n = sum(e.target_tokens for e in chunk)
            total += float(reference(model, collate(chunk, pad_id=0))) * n
            count += n
    assert _evaluate(model, examples, 3, 0, "cpu") == pytest.approx(total / count, rel=1e-5)
    assert model.training  # put back as it was

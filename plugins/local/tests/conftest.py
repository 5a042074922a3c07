"""Fixtures for the local plugin: isolated settings, and tiny models built here (no download)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

# Questions whose answers start with different words, so a tiny model can learn them apart.
PAIRS: tuple[tuple[str, str], ...] = (
    ("What is the refund window?", "Thirty days, full refund."),
    ("How do I reset my password?", "Settings, Security, Reset password."),
    ("When is support open?", "Monday to Friday, nine to five."),
    ("Do gift cards expire?", "No, gift cards never expire."),
)
# The same answers asked another way: held out, to measure validation loss.
PARAPHRASES: tuple[tuple[str, str], ...] = (
    ("How long is the refund window?", "Thirty days, full refund."),
    ("How can I reset my password?", "Settings, Security, Reset password."),
    ("What hours is support open?", "Monday to Friday, nine to five."),
    ("Will my gift card expire?", "No, gift cards never expire."),
)


def write_chat_jsonl(path: Path, pairs: tuple[tuple[str, str], ...], *, system: str | None = None) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for question, answer in pairs:
            messages = [{"role": "system", "content": system}] if system else []
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


@pytest.fixture(autouse=True)
def one_thread_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fine-tune workers: one thread is fastest for tiny models."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, above all on a busy 2-core CI machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama-style chat model, briefly pre-trained so it answers in words."""
    from tunewise_local.tiny import DEFAULT_CORPUS, build_tiny_model

    texts = [*DEFAULT_CORPUS, *(f"{q} {a}" for q, a in PAIRS + PARAPHRASES)]
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", texts, pretrain_steps=30, seed=0)


@pytest.fixture(scope="session")
def chat_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Training and validation chat JSONL files."""
    root = tmp_path_factory.mktemp("data")
    return write_chat_jsonl(root / "train.jsonl", PAIRS), write_chat_jsonl(root / "val.jsonl", PARAPHRASES)


@pytest.fixture(scope="session")
def qa_pairs() -> tuple[tuple[str, str], ...]:
    """The question/answer pairs of the training file."""
    return PAIRS

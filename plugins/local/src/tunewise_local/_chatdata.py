"""Chat JSONL (OpenAI's fine-tuning format) read, checked and tokenized for training.

Each line is ``{"messages": [...]}``. Training labels cover assistant tokens only:
the answer text and the end-of-turn marker the template puts after it, so the model
learns both what to say and when to stop. Assistant messages with ``"weight": 0`` are
context, not targets, exactly as OpenAI treats them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunewise import DataError, Message

IGNORE = -100
"""The label value cross-entropy skips."""


@dataclass(frozen=True)
class Example:
    """One tokenized conversation: input ids and labels (``IGNORE`` outside assistant turns)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def read_chat_jsonl(path: Path) -> list[list[dict[str, Any]]]:
    """Conversations from a chat JSONL file; the first bad line is a DataError naming it."""
    if not path.is_file():
        raise DataError("file not found", path=path)
    conversations: list[list[dict[str, Any]]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", path=path, line=number) from None
            if not isinstance(row, dict) or not isinstance(row.get("messages"), list) or not row["messages"]:
                raise DataError("each line must be an object with a non-empty 'messages' list", path=path, line=number)
            messages: list[dict[str, Any]] = []
            for index, raw in enumerate(row["messages"]):
                try:
                    message = Message.model_validate(raw)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    loc = ".".join(str(p) for p in first["loc"])
                    field = f"messages[{index}]" + (f".{loc}" if loc else "")
                    raise DataError(first["msg"], path=path, line=number, field=field) from None
                messages.append(message.model_dump(exclude_none=True))
            if not any(m["role"] == "assistant" and m.get("weight", 1) != 0 for m in messages):
                raise DataError("no assistant message to train on", path=path, line=number, field="messages")
            conversations.append(messages)
    if not conversations:
        raise DataError("no conversations in the file", path=path)
    return conversations


def file_sha256(*paths: Path | None) -> str:
    """One hash over the data files, recorded with the adapter to say what it was trained on."""
    digest = hashlib.sha256()
    for path in paths:
        if path is not None:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tokenize_conversation(tokenizer: Any, messages: list[dict[str, Any]], *, max_length: int) -> Example:
    """Render with the chat template and label the assistant spans (character offsets to tokens)."""

    def render(upto: int, prompt: bool) -> str:
        text: str = tokenizer.apply_chat_template(
            [_template_view(m) for m in messages[:upto]], tokenize=False, add_generation_prompt=prompt
        )
        return text

    full = render(len(messages), False)
    spans: list[tuple[int, int]] = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or message.get("weight", 1) == 0:
            continue
        start, end = len(render(index, True)), len(render(index + 1, False))
        if not full.startswith(render(index + 1, False)) or start > end:
            raise DataError(
                "the tokenizer's chat template does not render conversations prefix by prefix, "
                "so assistant tokens cannot be located",
                field=f"messages[{index}]",
            )
        spans.append((start, end))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = encoded["input_ids"]
    labels = [IGNORE] * len(ids)
    for position, (lo, hi) in enumerate(encoded["offset_mapping"]):
        if hi > lo and any(lo >= s and hi <= e for s, e in spans):
            labels[position] = ids[position]
    return Example(input_ids=ids[:max_length], labels=labels[:max_length])


def _template_view(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "weight"}

"""Token counts of chat examples: tiktoken for OpenAI models, the model's own tokenizer for local ones.

OpenAI models are counted as OpenAI's cookbook does: 3 tokens per message, 1 more per
``name``, the tokens of every string field, and 3 for priming the reply. Tool calls
count their function name and arguments, and an example's ``tools`` count as their JSON
text: OpenAI does not document how it renders tools, so those counts are estimates.
Local models are counted with their chat template when the tokenizer has one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tunewise._errors import ConfigError

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
_CACHED_TEXT_CHARS = 4096


@runtime_checkable
class TokenCounter(Protocol):
    """Counts one chat example: ``(total tokens, assistant tokens)``."""

    @property
    def name(self) -> str: ...

    def count(self, example: Mapping[str, Any]) -> tuple[int, int]: ...


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a content list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _call_texts(message: Mapping[str, Any]) -> list[str]:
    texts: list[str] = []
    calls = message.get("tool_calls")
    functions = [c.get("function") for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []
    if isinstance(message.get("function_call"), dict):
        functions.append(message["function_call"])
    for function in functions:
        if isinstance(function, dict):
            texts.extend(v for k in ("name", "arguments") if isinstance(v := function.get(k), str))
    return texts


def count_messages(messages: Sequence[Any], tokens: Callable[[str], int], *, tools: Any = None) -> tuple[int, int]:
    """Cookbook arithmetic over any string-to-token-count function: ``(total, assistant)``.

    Pure and independent of the tokenizer, so it is tested against hand-worked numbers.
    Anything that is not a message object is skipped (validation reports it).
    """
    total = REPLY_PRIMING_TOKENS
    assistant = 0
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        total += TOKENS_PER_MESSAGE
        content = 0
        for key, value in message.items():
            if key == "content":
                content = tokens(value if isinstance(value, str) else content_text(value))
                total += content
            elif isinstance(value, str):
                total += tokens(value) + (TOKENS_PER_NAME if key == "name" else 0)
        calls = (
            sum(tokens(t) for t in _call_texts(message)) if "tool_calls" in message or "function_call" in message else 0
        )
        total += calls
        if message.get("role") == "assistant":
            assistant += content + calls
    if tools:
        total += tokens(json.dumps(tools, ensure_ascii=False, separators=(",", ":")))
    return total, assistant


def _cached(tokens: Callable[[str], int]) -> Callable[[str], int]:
    """Memoize short texts: system prompts and roles repeat in every example."""
    cached = functools.lru_cache(maxsize=2048)(tokens)

    def count(text: str) -> int:
        return cached(text) if len(text) <= _CACHED_TEXT_CHARS else tokens(text)

    return count


class TiktokenCounter:
    """Counts with a shipped tiktoken encoding (no download), as OpenAI's cookbook does."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        from tunewise.data._encodings import load_encoding

        self._encoding = load_encoding(encoding)
        self._tokens = _cached(self._encode_len)

    @property
    def name(self) -> str:
        return str(self._encoding.name)

    def _encode_len(self, text: str) -> int:
        # encode_ordinary: special-token text such as "<|endoftext|>" in data is counted as text, never raises
        return len(self._encoding.encode_ordinary(text))

    def tokens(self, text: str) -> int:
        """Tokens of one piece of text."""
        return self._tokens(text)

    def count(self, example: Mapping[str, Any]) -> tuple[int, int]:
        messages = example.get("messages")
        return count_messages(messages if isinstance(messages, list) else [], self._tokens, tools=example.get("tools"))

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name!r})"


class HuggingFaceCounter:
    """Counts with a local model's own tokenizer, through its chat template when it has one.

    Args:
        path: a directory holding a Hugging Face tokenizer (``tokenizer.json`` or similar).
            Nothing is downloaded: the directory must be complete.
    """

    def __init__(self, path: str | Path) -> None:
        directory = Path(path)
        if not directory.is_dir():
            raise ConfigError(f"tokenizer directory {str(directory)!r} does not exist")
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise ConfigError(
                "counting with a Hugging Face tokenizer needs transformers (pip install tunewise-local)"
            ) from None

        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot load a tokenizer from {str(directory)!r}: {first}") from None
        self._path = directory
        self._tokens = _cached(self._encode_len)
        self.uses_chat_template = bool(getattr(self._tokenizer, "chat_template", None))

    @property
    def name(self) -> str:
        return str(self._path)

    def _encode_len(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False))

    def count(self, example: Mapping[str, Any]) -> tuple[int, int]:
        raw = example.get("messages")
        messages = [m for m in raw if isinstance(m, Mapping)] if isinstance(raw, list) else []
        total, assistant = count_messages(messages, self._tokens, tools=example.get("tools"))
        if self.uses_chat_template and messages:
            plain = [
                {**m, "content": content_text(m.get("content"))} for m in messages if isinstance(m.get("role"), str)
            ]
            try:
                ids = self._tokenizer.apply_chat_template(plain, tokenize=True, tools=example.get("tools") or None)
            except Exception:  # a template that cannot render this example: keep the cookbook-style count
                return total, assistant
            if isinstance(ids, Mapping):
                ids = ids["input_ids"]
            total = len(ids)
        return total, assistant

    def __repr__(self) -> str:
        return f"HuggingFaceCounter({self.name!r})"


def token_counter(
    *, model: str | None = None, encoding: str | None = None, tokenizer: str | Path | None = None
) -> TokenCounter:
    """The counter for a target: a Hugging Face tokenizer directory, a tiktoken encoding, or an OpenAI model name.

    With nothing given, ``o200k_base`` (today's OpenAI fine-tunable models).
    """
    if sum(x is not None for x in (model, encoding, tokenizer)) > 1:
        raise ConfigError("give only one of model, encoding or tokenizer")
    if tokenizer is not None:
        return HuggingFaceCounter(tokenizer)
    if model is not None:
        from tunewise.data._encodings import encoding_for_model

        encoding = encoding_for_model(model)
    return TiktokenCounter(encoding or "o200k_base")

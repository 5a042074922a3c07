"""Token counting: shipped encodings equal tiktoken's own, cookbook arithmetic, model -> encoding, local tokenizers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunewise import ConfigError, DataError
from tunewise.data import (
    HuggingFaceCounter,
    TiktokenCounter,
    count_messages,
    encoding_for_model,
    load_encoding,
    token_counter,
)
from tunewise.data._encodings import _read_ranks


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_shipped_encodings_match_tiktoken(tiktoken_oracle: dict[str, Any], name: str, text: str) -> None:
    assert load_encoding(name).encode_ordinary(text) == tiktoken_oracle[name].encode_ordinary(text)


def test_special_tokens_match_tiktoken(tiktoken_oracle: dict[str, Any]) -> None:
    for name, reference in tiktoken_oracle.items():
        ours = load_encoding(name)
        assert ours.special_tokens_set == reference.special_tokens_set
        assert ours.n_vocab == reference.n_vocab
        assert ours.encode("<|endoftext|>", allowed_special="all") == reference.encode(
            "<|endoftext|>", allowed_special="all"
        )


def test_known_token_counts() -> None:
    # Literal counts checked against tiktoken's get_encoding (see test_shipped_encodings_match_tiktoken).
    cl100k, o200k = load_encoding("cl100k_base"), load_encoding("o200k_base")
    assert len(cl100k.encode_ordinary("Hello world")) == 2
    assert len(cl100k.encode_ordinary("You are a helpful assistant.")) == 6
    assert len(cl100k.encode_ordinary("What is 7 plus 7? Please answer briefly.")) == 12
    assert len(cl100k.encode_ordinary("système 北京 🎉 <|endoftext|>")) == 15
    assert len(o200k.encode_ordinary("système 北京 🎉 <|endoftext|>")) == 12


def test_cookbook_count_of_a_conversation() -> None:
    example = {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},  # 6 tokens
            {"role": "user", "content": "What is 7 plus 7? Please answer briefly.", "name": "alice"},  # 12 + name
            {"role": "assistant", "content": "14"},  # 1
        ]
    }
    counter = TiktokenCounter("cl100k_base")
    name_tokens = counter.tokens("alice")
    assert name_tokens == 1
    # 3 priming + 3 messages x (3 overhead + 1 role token) + 6 + 12 + 1 content + (1 name + 1 per name)
    assert counter.count(example) == (3 + 3 * 4 + 6 + 12 + 1 + 2, 1)


def test_count_messages_is_pure_arithmetic() -> None:
    def chars(text: str) -> int:
        return len(text)

    messages = [
        {"role": "user", "content": [{"type": "text", "text": "ab"}, {"type": "image_url", "image_url": {}}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
        {"role": "assistant", "content": "done", "weight": 0},
        "not a message",
    ]
    total, assistant = count_messages(messages, chars, tools=[{"type": "function"}])
    tools_json = json.dumps([{"type": "function"}], separators=(",", ":"))
    expected = 3 + 4 * 3 + (4 + 2) + (9 + 1 + 2) + (4 + 1 + 2) + (9 + 4) + len(tools_json)
    assert (total, assistant) == (expected, (1 + 2) + 4)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4o", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("openai:ft:gpt-4o-mini-2024-07-18:org::abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
    ],
)
def test_encoding_for_model(model: str, encoding: str) -> None:
    assert encoding_for_model(model) == encoding
    assert token_counter(model=model).name == encoding


def test_unknown_model_and_encoding_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="llama-3"):
        encoding_for_model("llama-3")
    with pytest.raises(ConfigError, match="shipped encodings: cl100k_base, o200k_base"):
        load_encoding("p50k_base")
    with pytest.raises(ConfigError, match="only one"):
        token_counter(model="gpt-4o", encoding="cl100k_base")


def test_tampered_encoding_is_refused() -> None:
    with pytest.raises(DataError, match=r"cl100k_base.tiktoken: sha256 223921b7.* does not match the expected 0000"):
        _read_ranks("cl100k_base", "0" * 64)


def _word_tokenizer(folder: Path, *, template: str | None) -> Path:
    """A real Hugging Face tokenizer: one token per word or punctuation run."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["[UNK]", "<", ">", "user", "assistant", "system", "hello", "there", "how", "are", "you", "fine", "thanks"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    if template:
        tokenizer.chat_template = template
    tokenizer.save_pretrained(folder)
    return folder


EXAMPLE = {
    "messages": [
        {"role": "user", "content": "hello there, how are you?"},  # 7 pieces: hello there , how are you ?
        {"role": "assistant", "content": "fine thanks"},  # 2
    ]
}


@pytest.mark.slow
def test_hugging_face_counter_uses_the_chat_template(tmp_path: Path) -> None:
    folder = _word_tokenizer(
        tmp_path / "tok", template="{% for m in messages %}<{{ m.role }}> {{ m.content }} {% endfor %}"
    )
    counter = token_counter(tokenizer=folder)
    assert isinstance(counter, HuggingFaceCounter) and counter.uses_chat_template
    # "<user> hello there , how are you ? <assistant> fine thanks": (3 + 7) + (3 + 2) tokens
    assert counter.count(EXAMPLE) == (15, 2)


@pytest.mark.slow
def test_hugging_face_counter_without_template_counts_like_the_cookbook(tmp_path: Path) -> None:
    counter = HuggingFaceCounter(_word_tokenizer(tmp_path / "tok", template=None))
    assert not counter.uses_chat_template
    # 3 priming + 2 x (3 + 1 role) + 7 + 2
    assert counter.count(EXAMPLE) == (3 + 8 + 9, 2)


def test_missing_tokenizer_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        HuggingFaceCounter(tmp_path / "nope")

import pytest

from tunewise import ModelRef, ModelRefError


@pytest.mark.parametrize(
    ("text", "prefix", "name", "adapter"),
    [
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        ("openai:ft:gpt-4o-mini-2024-07-18:org::abc123", "openai", "ft:gpt-4o-mini-2024-07-18:org::abc123", None),
        ("local:/models/base", "local", "/models/base", None),
        ("local:/models/base+/adapters/x", "local", "/models/base", "/adapters/x"),
        ("ollama:llama3.2", "ollama", "llama3.2", None),
        ("vllm:Qwen/Qwen2.5-0.5B-Instruct", "vllm", "Qwen/Qwen2.5-0.5B-Instruct", None),
    ],
)
def test_parse_round_trips(text: str, prefix: str, name: str, adapter: str | None) -> None:
    ref = ModelRef.parse(text)
    assert (ref.prefix, ref.name, ref.adapter) == (prefix, name, adapter)
    assert str(ref) == text
    assert ModelRef.parse(str(ref)) == ref


def test_model_carries_adapter_to_the_provider() -> None:
    assert ModelRef.parse("local:/m+/a").model == "/m+/a"
    assert ModelRef.parse("openai:gpt-4o").model == "gpt-4o"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("gpt-4o-mini", "no provider prefix"),
        ("", "no provider prefix"),
        ("openai:", "names no model"),
        ("OpenAI:gpt-4o", "prefix 'OpenAI' must be lower-case"),
        ("1x:model", "must be lower-case"),
        ("local:/m+", "no adapter"),
        ("openai:gpt 4o", "white space"),
    ],
)
def test_bad_refs_get_one_line_errors(text: str, says: str) -> None:
    with pytest.raises(ModelRefError, match=says) as info:
        ModelRef.parse(text)
    assert "\n" not in str(info.value)

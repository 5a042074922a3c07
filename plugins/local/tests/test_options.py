"""The local profile's options and the tiny model's shape: each checked in one place, one line per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tunewise import ConfigError
from tunewise_local import LocalOptions
from tunewise_local.tiny import TinyShape, build_tiny_model


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"devise": "cpu"}, "profiles.work.options: unknown option 'devise' (did you mean 'device'?); known: device, "),
        ({"device": "tpu"}, "profiles.work.options.device: expected one of auto, cpu, cuda, cuda:N, mps; got 'tpu'"),
        ({"device": "cuda:x"}, "profiles.work.options.device: expected one of auto, cpu, cuda, cuda:N, mps; got"),
        ({"dtype": "fp4"}, "profiles.work.options.dtype: expected one of auto, float32, bfloat16, float16; got 'fp4'"),
        ({"trust_remote_code": "perhaps"}, "profiles.work.options.trust_remote_code: expected a boolean; got"),
        ({"max_batch_size": 0}, "profiles.work.options.max_batch_size: must be >= 1; got 0"),
        ({"max_batch_size": True}, "profiles.work.options.max_batch_size: a boolean is not a number; got True"),
        ({"max_tokens": 2.5}, "profiles.work.options.max_tokens: expected a whole number; got 2.5"),
        ({"max_wait_ms": "inf"}, "profiles.work.options.max_wait_ms: must be a finite number; got 'inf'"),
    ],
)
def test_a_bad_option_is_one_line_naming_it(options: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        LocalOptions.parse(options, profile="work")
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)


def test_options_from_toml_or_the_environment_may_be_strings() -> None:
    parsed = LocalOptions.parse(
        {"device": "cuda:1", "trust_remote_code": "yes", "max_batch_size": "4", "max_wait_ms": "2.5"}
    )
    assert (parsed.device, parsed.trust_remote_code, parsed.max_batch_size, parsed.max_wait_ms) == (
        "cuda:1",
        True,
        4,
        2.5,
    )
    assert parsed.load.device == "cuda:1" and parsed.load.dtype == "auto"
    assert LocalOptions.parse(parsed) is parsed and LocalOptions.parse(None) == LocalOptions()


def test_a_shape_no_model_can_have_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"hidden_size": 6}, "hidden_size (6) must split into num_heads (4) heads of an even size"),
        ({"num_layers": 0}, "num_layers must be a whole number >= 1, got 0"),
        ({"seed": True}, "seed must be a whole number >= 0, got True"),
        ({"vocab_size": 10**6}, "vocab_size must be at most 262144 for a tiny model, got 1000000"),
        ({"hiden_size": 8}, "build_tiny_model: unknown setting 'hiden_size' (did you mean 'hidden_size'?)"),
    ]
    for fields, expected in cases:
        with pytest.raises(ConfigError) as info:
            build_tiny_model(tmp_path / "model", None, **fields)
        assert str(info.value).startswith(expected) and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"give a shape or its fields \(seed\), not both"):
        build_tiny_model(tmp_path / "model", None, TinyShape(), seed=1)
    assert not (tmp_path / "model").exists()
    assert TinyShape.of(hidden_size=32, num_heads=2) == TinyShape(hidden_size=32, num_heads=2)

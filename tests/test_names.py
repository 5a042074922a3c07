"""Short model names: every kind of reference the project produces, as a report's table shows it."""

from __future__ import annotations

import pytest

from tunewise import ModelRef
from tunewise._names import MAX_CHARS, short_job_id, short_model_name

HOME = "/home/me/.tunewise"
JOB = "ftjob-20250314-101500-9f3ab2c9"


@pytest.mark.parametrize(
    ("ref", "short"),
    [
        # hosted models: the name without the provider prefix
        ("openai:gpt-4o-mini", "gpt-4o-mini"),
        ("ollama:llama3.2", "llama3.2"),
        ("vllm:meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        # OpenAI fine-tunes: the base, then the suffix and id (never the organisation)
        ("openai:ft:gpt-4o-mini:org::abc123", "gpt-4o-mini fine-tuned (abc123)"),
        (
            "openai:ft:gpt-4o-mini-2024-07-18:my-org:lumen-support:AbC12xyz",
            "gpt-4o-mini-2024-07-18 fine-tuned (lumen-support, AbC12xyz)",
        ),
        ("scripted:ft:base:ladder:ftjob-0001", "base fine-tuned (ftjob-0001)"),
        # local: packaged names, GGUF files, the folder a GGUF file is dequantized into, the HF cache
        ("local:smollm2-135m-instruct", "smollm2-135m-instruct"),
        ("local:/models/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_1"),
        (f"local:{HOME}/local/models/SmolLM2-135M-Instruct.Q4_1-0123456789abcdef", "SmolLM2-135M-Instruct.Q4_1"),
        ("local:HuggingFaceTB/SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        (
            "local:/home/me/.cache/huggingface/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        (
            "local:/home/me/.cache/huggingface/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct/snapshots/" + "a1" * 20,
            "HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
        ("local:/srv/models/qwen2.5-0.5b-instruct", "qwen2.5-0.5b-instruct"),
        ("local:/tmp/pytest-7/demo0/model", "demo0/model"),  # a folder called "model" says nothing alone
        ("local:./model", "model"),
        # adapters: a LoRA from a local fine-tune job, a full fine-tune's output, an adapter of the user's
        (
            f"local:{HOME}/local/models/SmolLM2-135M-Instruct.Q4_1-0123456789abcdef+{HOME}/local/jobs/{JOB}/adapter",
            "SmolLM2-135M-Instruct.Q4_1 + LoRA (ftjob-…b2c9)",
        ),
        (
            f"local:/tmp/pytest-7/demo0/model+/tmp/pytest-7/demo0/home/local/jobs/{JOB}-lumen-support/adapter",
            "demo0/model + LoRA (ftjob-…b2c9)",
        ),
        (f"local:{HOME}/local/jobs/{JOB}/model", "fine-tuned (ftjob-…b2c9)"),
        ("local:/models/base-model+/adapters/support", "base-model + adapter support"),
        ("local:smollm2-135m-instruct+/adapters/support", "smollm2-135m-instruct + adapter support"),
        # Windows paths too
        ("local:C:\\models\\Phi-3-mini.gguf", "Phi-3-mini"),
    ],
)
def test_short_names(ref: str, short: str) -> None:
    ModelRef.parse(ref)  # every case is a reference users (or the ladder) really write
    assert short_model_name(ref) == short


def test_a_long_name_keeps_both_ends_around_an_ellipsis() -> None:
    ref = "local:/models/" + "a-very-long-model-name-" * 5 + "final-v2"
    short = short_model_name(ref)
    assert len(short) == MAX_CHARS and "…" in short
    assert short.startswith("a-very-long-model-name") and short.endswith("final-v2")


def test_text_that_is_not_a_reference_is_shown_as_it_is() -> None:
    assert short_model_name("gpt-4o-mini") == "gpt-4o-mini"
    assert short_model_name("") == ""
    assert short_model_name("a  b\nc") == "a b c"  # one line in a table cell


@pytest.mark.parametrize(
    ("job", "short"),
    [
        ("ftjob-0001", "ftjob-0001"),
        ("ftjob-20250314-101500-9f3ab2c9", "ftjob-…b2c9"),
        ("ftjob-20250314-101500-9f3ab2c9-lumen-support", "ftjob-…b2c9"),
        ("ftjob-abc123def456ghi789", "ftjob-…i789"),
        ("a-job-name-that-is-rather-long", "a-…long"),
    ],
)
def test_job_ids(job: str, short: str) -> None:
    assert short_job_id(job) == short

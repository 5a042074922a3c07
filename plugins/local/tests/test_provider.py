"""The local provider against a real tiny model: chat, streaming, batching, stops, seeds, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

import tunewise
from tunewise import (
    BadRequestError,
    ChatRequest,
    ConfigError,
    Message,
    NotFoundError,
    ProviderConfig,
    TunewiseError,
)
from tunewise_local._provider import LocalOptions, LocalProvider

PROMPTS = ("What is the refund window?", "Do gift cards expire?", "Hello there", "When is support open?")


def request(model: Path | str, prompt: str, **options: object) -> ChatRequest:
    return ChatRequest(model=str(model), messages=(Message.user(prompt),), **options)  # type: ignore[arg-type]


def provider(**options: object) -> LocalProvider:
    return LocalProvider(options=LocalOptions.parse(dict(options)))


@pytest.mark.anyio
async def test_greedy_chat_is_deterministic_and_counts_tokens(tiny_model: Path) -> None:
    local = provider()
    try:
        first = await local.chat(request(tiny_model, PROMPTS[0], temperature=0, max_tokens=24))
        second = await local.chat(request(tiny_model, PROMPTS[0], temperature=0, max_tokens=24))
    finally:
        await local.aclose()
    assert first.text == second.text and first.text
    assert first.finish_reason in ("stop", "length")
    loaded_prompt = 1 + len("<|user|>\n")  # at least the BOS and the user tag are tokens
    assert first.usage.prompt_tokens is not None and first.usage.prompt_tokens > loaded_prompt // 4
    assert first.usage.completion_tokens is not None and 0 < first.usage.completion_tokens <= 24
    assert first.model == str(tiny_model)


@pytest.mark.anyio
async def test_seeded_sampling_repeats_and_seeds_differ(tiny_model: Path) -> None:
    local = provider()
    try:
        texts = [
            (await local.chat(request(tiny_model, "Hello", temperature=1.5, top_p=0.95, seed=s, max_tokens=16))).text
            for s in (1, 1, 2, 3, 4)
        ]
    finally:
        await local.aclose()
    assert texts[0] == texts[1]
    assert len(set(texts[1:])) > 1, texts


@pytest.mark.anyio
async def test_stream_yields_token_by_token_and_matches_chat(tiny_model: Path) -> None:
    local = provider()
    try:
        chunks = [c async for c in local.stream(request(tiny_model, PROMPTS[1], temperature=0, max_tokens=20))]
        whole = await local.chat(request(tiny_model, PROMPTS[1], temperature=0, max_tokens=20))
    finally:
        await local.aclose()
    assert len(chunks) >= 3, "a streamed answer arrives in several pieces"
    assert "".join(c.delta for c in chunks) == whole.text
    assert chunks[-1].finish_reason == whole.finish_reason
    last = chunks[-1].usage
    assert last is not None and whole.usage.compute_s is not None and last.compute_s is not None
    assert last.model_copy(update={"compute_s": None}) == whole.usage.model_copy(update={"compute_s": None})
    assert last.compute_s > 0 and last.compute_device == "cpu"  # measured compute time prices a local model
    assert all(c.finish_reason is None and c.usage is None for c in chunks[:-1])


@pytest.mark.anyio
async def test_stop_sequence_cuts_the_answer_and_is_never_streamed(tiny_model: Path) -> None:
    local = provider()
    try:
        full = await local.chat(request(tiny_model, PROMPTS[0], temperature=0, max_tokens=24))
        assert len(full.text) > 6
        stop = full.text[3:6]
        chunks = [
            c async for c in local.stream(request(tiny_model, PROMPTS[0], temperature=0, max_tokens=24, stop=(stop,)))
        ]
    finally:
        await local.aclose()
    streamed = "".join(c.delta for c in chunks)
    assert streamed == full.text[: full.text.index(stop)]
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.anyio
async def test_concurrent_requests_are_batched_and_match_one_by_one(tiny_model: Path) -> None:
    prompts = [PROMPTS[i % len(PROMPTS)] + " " * (i // len(PROMPTS)) for i in range(8)]
    one_by_one = provider(max_batch_size=1)
    try:
        expected = [(await one_by_one.chat(request(tiny_model, p, temperature=0, max_tokens=16))).text for p in prompts]
    finally:
        await one_by_one.aclose()
    assert one_by_one.stats.batch_sizes == [1] * 8

    batched = provider(max_batch_size=8, max_wait_ms=200)
    results: dict[int, str] = {}

    async def ask(i: int) -> None:
        results[i] = (await batched.chat(request(tiny_model, prompts[i], temperature=0, max_tokens=16))).text

    try:
        await batched.load(str(tiny_model))  # loaded first, so all eight arrive within the wait window
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(ask, i)
    finally:
        await batched.aclose()
    assert max(batched.stats.batch_sizes) > 1, batched.stats
    assert sum(batched.stats.batch_sizes) == 8
    assert [results[i] for i in range(8)] == expected, "left padding must not change greedy answers"


@pytest.mark.anyio
async def test_cancelled_stream_frees_its_batch_slot(tiny_model: Path) -> None:
    local = provider()
    try:
        stream = local.stream(request(tiny_model, PROMPTS[2], temperature=1.0, max_tokens=200, seed=3))
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
        answer = await local.chat(request(tiny_model, PROMPTS[0], temperature=0, max_tokens=8))
    finally:
        await local.aclose()
    assert answer.finish_reason in ("stop", "length")


@pytest.mark.anyio
async def test_through_the_registry_with_a_profile(tiny_model: Path, isolated_settings: Path) -> None:
    settings = tunewise.load_settings(profiles={"tiny": {"plugin": "local", "options": {"device": "cpu"}}})
    async with tunewise.Registry(settings) as registry:
        model = registry.model(f"tiny:{tiny_model}")
        answer = await model.chat("What is the refund window?", temperature=0, max_tokens=8)
        assert answer.text and model.provider.name == "tiny"
        assert "embed" in model.provider.capabilities


@pytest.mark.anyio
async def test_embeddings_are_normalised_mean_pooled_states(tiny_model: Path) -> None:
    local = provider()
    try:
        embedder = local.embedder(str(tiny_model))
        alone = await embedder.embed(["refund policy"])
        together = await embedder.embed(["refund policy", "a much longer text about resetting a password"])
    finally:
        await local.aclose()
    assert embedder.dimension == 64 == len(alone[0])
    assert sum(x * x for x in together[1]) == pytest.approx(1.0, abs=1e-4)
    assert together[0] == pytest.approx(alone[0], abs=1e-4), "padding must not change a text's vector"


@pytest.mark.anyio
async def test_missing_and_unsafe_models_are_one_line_errors(tiny_model: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    for weights in pickled.glob("*.safetensors"):
        weights.rename(weights.with_name("pytorch_model.bin"))
    local = provider()
    try:
        with pytest.raises(NotFoundError) as missing:
            await local.chat(request(tmp_path / "nope", "hi"))
        with pytest.raises(ConfigError) as unsafe:
            await local.chat(request(pickled, "hi"))
        with pytest.raises(NotFoundError) as no_adapter:
            await local.chat(request(f"{tiny_model}+{tmp_path / 'no-adapter'}", "hi"))
        with pytest.raises(BadRequestError) as too_long:
            await local.chat(request(tiny_model, "refund " * 1500))
    finally:
        await local.aclose()
    assert "does not exist" in str(missing.value)
    assert "safetensors" in str(unsafe.value) and "pytorch_model.bin" in str(unsafe.value)
    assert "adapter directory" in str(no_adapter.value)
    assert "at most 1024" in str(too_long.value)
    for error in (missing, unsafe, no_adapter, too_long):
        assert isinstance(error.value, TunewiseError) and "\n" not in str(error.value)


def test_options_are_checked(tmp_path: Path) -> None:
    def create(**options: object) -> object:
        return tunewise.load_plugin("local").create(
            ProviderConfig(name="local", plugin="local", options=options, home=tmp_path)
        )

    with pytest.raises(ConfigError, match="unknown option"):
        create(devise="cpu")
    with pytest.raises(ConfigError, match="max_batch_size"):
        create(max_batch_size=0)
    with pytest.raises(ConfigError, match="boolean"):
        create(trust_remote_code="perhaps")
    assert isinstance(create(device="cpu", dtype="float32", max_batch_size=4), LocalProvider)


def test_device_and_dtype_resolution() -> None:
    import torch

    from tunewise_local._devices import resolve_device, resolve_dtype

    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ConfigError, match="not one of"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match="not one of"):
        resolve_dtype("float8", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_tiny_model_directory_is_complete(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    names = {p.name for p in tiny_model.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tunewise_tiny.json"} <= names
    assert json.loads((tiny_model / "config.json").read_text())["hidden_size"] == 64
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert text == "<s><|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"
    assert tokenizer.decode(tokenizer("Refunds: 30 days, ünïcode ✓")["input_ids"]) == "Refunds: 30 days, ünïcode ✓"


def test_compute_clock_shares_each_second_among_the_requests_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunewise_local import _clock

    now = [100.0]
    monkeypatch.setattr(_clock.time, "perf_counter", lambda: now[0])
    clock = _clock.ComputeClock()
    a = clock.start()
    now[0] += 2.0  # a alone: 2 s
    b = clock.start()
    now[0] += 4.0  # a and b together: 2 s each
    charged_a = clock.stop(a)
    now[0] += 1.0  # b alone: 1 s
    charged_b = clock.stop(b)
    assert charged_a == pytest.approx(4.0) and charged_b == pytest.approx(3.0)
    assert charged_a + charged_b == pytest.approx(7.0)  # exactly the time the machine was busy
    now[0] += 50.0  # idle time is nobody's
    c = clock.start()
    now[0] += 0.5
    assert clock.stop(c) == pytest.approx(0.5)

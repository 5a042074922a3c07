"""The generation engine on its own: continuous batching, rows leaving, shared prefixes, errors, close."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from tunewise_local._engine import (
    MIN_SHARED_PREFIX,
    Engine,
    EngineStats,
    GenerationRequest,
    Piece,
    PrefixCache,
    plan_prefixes,
    prefill,
)
from tunewise_local._loading import LoadedModel, LoadOptions, load

SYSTEM = (
    "Our refund policy: you can return any item within 30 days for a full refund. "
    "Shipping is free for orders over fifty euros and takes three to five working days."
)
QUESTIONS = ("What is the refund window?", "Do gift cards expire?", "Hello there", "When is support open?")


@pytest.fixture(scope="module")
def loaded(tiny_model: Path) -> LoadedModel:
    return load(str(tiny_model), None, LoadOptions(device="cpu"))


@pytest.fixture
def endless(loaded: LoadedModel) -> LoadedModel:
    """The same model, but no token ends an answer: every answer runs to its token budget."""
    return dataclasses.replace(loaded, eos_token_ids=frozenset())


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = Engine(max_batch_size=8, max_wait_s=0.05)
    yield engine
    engine.close()


def prompt(loaded: LoadedModel, question: str, system: str | None = SYSTEM) -> list[int]:
    turns = [{"role": "system", "content": system}] if system else []
    return loaded.chat_prompt([*turns, {"role": "user", "content": question}])


def job(
    loaded: LoadedModel,
    ids: list[int],
    max_new_tokens: int = 16,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    stops: tuple[str, ...] = (),
    seed: int | None = None,
) -> GenerationRequest:
    send, receive = anyio.create_memory_object_stream[Piece](math.inf)
    request = GenerationRequest(
        loaded=loaded,
        prompt_ids=ids,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        stops=stops,
        seed=seed,
        send=send,
        token=_current_token(),
    )
    request.receive = receive  # type: ignore[attr-defined]
    return request


def _current_token() -> anyio.lowlevel.EventLoopToken:
    try:
        return anyio.lowlevel.current_token()
    except anyio.NoEventLoopError:  # driven directly, without an engine: nothing is delivered
        return None  # type: ignore[return-value]


async def answer(request: GenerationRequest) -> tuple[str, Piece]:
    text = ""
    async with request.receive:  # type: ignore[attr-defined]
        async for piece in request.receive:  # type: ignore[attr-defined]
            text += piece.delta
            if piece.finish_reason is not None:
                return text, piece
    raise AssertionError("the stream ended without a last piece")


async def ask_all(engine: Engine, requests: list[GenerationRequest]) -> list[tuple[str, Piece]]:
    results: dict[int, tuple[str, Piece]] = {}

    async def one(i: int) -> None:
        results[i] = await answer(requests[i])

    async with anyio.create_task_group() as tg:
        for i, request in enumerate(requests):
            engine.submit(request)
            tg.start_soon(one, i)
    return [results[i] for i in range(len(requests))]


def generate_alone(loaded: LoadedModel, ids: list[int], max_new_tokens: int) -> tuple[str, int]:
    """Hugging Face ``generate`` on one unpadded prompt, greedy: its text and token count."""
    import torch

    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones((1, len(ids)), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=loaded.pad_token_id,
        )
    new = out[0, len(ids) :].tolist()
    end = next((i for i, t in enumerate(new) if t in loaded.eos_token_ids), None)
    tokens = new if end is None else new[:end]
    return loaded.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens) + (end is not None)


def test_plan_prefixes_shares_long_common_starts_only() -> None:
    system = tuple(range(100, 140))  # 40 tokens
    a, b, c = [*system, 1, 2, 3], [*system, 4, 5], [*system, 1, 2, 9]
    assert plan_prefixes([a, b, c], (), ()) == [40, 40, 40], "near-copies share the common start"
    assert plan_prefixes([a], (), ()) == [0], "nothing to share with"
    assert plan_prefixes([a], (), [tuple(b)]) == [40], "a recent prompt counts"
    assert plan_prefixes([a, [*system[:20], 7]], (), ()) == [0, 0], "20 tokens are too few"
    assert plan_prefixes([a, a], (), ()) == [len(a) - 1] * 2, "every row keeps its last token to run"
    known = (tuple(system[:35]),)
    assert plan_prefixes([a, b], known, ()) == [35, 35], "a known prefix beats one a few tokens longer"
    longer = [*system, *range(200, 260), 1]
    assert plan_prefixes([longer, [*longer[:-1], 2]], known, ()) == [100, 100], "far longer is worth computing"
    assert MIN_SHARED_PREFIX == 32


@pytest.mark.anyio
async def test_greedy_answers_match_generate_alone_batched_and_sharing_a_prefix(
    loaded: LoadedModel, engine: Engine
) -> None:
    prompts = [prompt(loaded, q) for q in QUESTIONS] + [prompt(loaded, "Hi", system=None)]
    lengths = plan_prefixes(prompts, (), ())
    shared = lengths[0]
    assert shared >= MIN_SHARED_PREFIX, "the system prompt is long enough to share"
    assert lengths == [shared] * 4 + [0]
    expected = [generate_alone(loaded, ids, 20) for ids in prompts]
    results = await ask_all(engine, [job(loaded, ids, 20) for ids in prompts])
    assert [(text, piece.completion_tokens) for text, piece in results] == expected
    stats = engine.stats
    assert stats.batch_sizes == [5] and stats.requests == 5
    assert stats.prefix_hits == 4 and stats.reused_tokens == 3 * shared

    # A later request with the same system prompt takes the prefix from the cache.
    later = prompt(loaded, "Is shipping free?")
    (text, piece), *_ = await ask_all(engine, [job(loaded, later, 20)])
    assert (text, piece.completion_tokens) == generate_alone(loaded, later, 20)
    assert engine.stats.reused_tokens == 4 * shared


@pytest.mark.anyio
async def test_a_request_joins_a_decoding_batch_at_the_next_step(endless: LoadedModel, engine: Engine) -> None:
    first, second = prompt(endless, QUESTIONS[0], system=None), prompt(endless, QUESTIONS[1])
    alone = Engine(max_batch_size=1)
    try:
        expected = await ask_all(alone, [job(endless, first, 60), job(endless, second, 10)])
    finally:
        await anyio.to_thread.run_sync(alone.close)

    long_job, short_job = job(endless, first, 60), job(endless, second, 10)
    engine.submit(long_job)
    order: list[str] = []
    results: dict[str, tuple[str, Piece]] = {}

    async def collect(name: str, request: GenerationRequest) -> None:
        results[name] = await answer(request)
        order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect, "long", long_job)
        while engine.stats.steps < 2:  # the long answer is decoding
            await anyio.sleep(0.005)
        engine.submit(short_job)
        tg.start_soon(collect, "short", short_job)
    assert order == ["short", "long"], "the second request did not wait for the first to finish"
    assert engine.stats.joined == 1 and engine.stats.batch_sizes == [1, 1]
    assert [results["long"][0], results["short"][0]] == [text for text, _ in expected]
    assert engine.stats.rows_decoded < 2 * engine.stats.steps


def test_finished_rows_leave_and_unused_columns_go(endless: LoadedModel) -> None:
    long_prompt = prompt(endless, "A much longer question about refunds, shipping, invoices and gift cards?")
    short_prompt = prompt(endless, "Hi", system=None)
    requests = [job(endless, long_prompt, 2), job(endless, short_prompt, 20), job(endless, short_prompt, 5)]
    stats = EngineStats()
    widths: list[int] = []
    batch = prefill(requests, lambda pieces: None, stats=stats)
    while batch.active:
        batch.step(lambda pieces: None, stats)
        widths.append(batch.width)
    assert stats.steps == 19
    assert stats.rows_decoded == 1 + 19 + 4, "a row is decoded only until its answer is over"
    assert len(long_prompt) > widths[-2] == len(short_prompt) + 18, "the long prompt's columns went with it"


@pytest.mark.anyio
async def test_seeded_sampling_and_stops_are_per_row_in_a_batch(loaded: LoadedModel) -> None:
    ids = prompt(loaded, QUESTIONS[2], system=None)
    alone = Engine(max_batch_size=1)
    together = Engine(max_batch_size=8, max_wait_s=0.2)
    try:
        sampled = [job(loaded, ids, 16, temperature=1.5, top_p=0.9, seed=s) for s in (1, 2)]
        one_by_one = [await ask_all(alone, [request]) for request in sampled]
        greedy = (await ask_all(alone, [job(loaded, ids, 16)]))[0][0]
        assert len(greedy) > 4
        stop = greedy[2:4]
        batched = await ask_all(
            together,
            [
                *(job(loaded, ids, 16, temperature=1.5, top_p=0.9, seed=s) for s in (1, 2)),
                job(loaded, ids, 16, stops=(stop,)),
                job(loaded, ids, 3),
            ],
        )
    finally:
        await anyio.to_thread.run_sync(alone.close)
        await anyio.to_thread.run_sync(together.close)
    assert [text for text, _ in batched[:2]] == [r[0][0] for r in one_by_one]
    assert batched[2][0] == greedy[: greedy.index(stop)] and batched[2][1].finish_reason == "stop"
    assert batched[3][1].finish_reason == "length" and batched[3][1].completion_tokens == 3
    assert together.stats.batch_sizes == [4]


@pytest.mark.anyio
async def test_a_failing_request_leaves_the_running_batch_alone(endless: LoadedModel, engine: Engine) -> None:
    good = job(endless, prompt(endless, QUESTIONS[0]), 40)
    bad = job(endless, [*prompt(endless, QUESTIONS[1]), 10**7], 5)  # no such token: the embedding fails
    engine.submit(good)
    results: dict[str, tuple[str, Piece]] = {}

    async def collect(name: str, request: GenerationRequest) -> None:
        results[name] = await answer(request)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect, "good", good)
        while engine.stats.steps < 1:
            await anyio.sleep(0.005)
        engine.submit(bad)
        tg.start_soon(collect, "bad", bad)
    assert results["bad"][1].finish_reason == "error" and "index" in (results["bad"][1].error or "").lower()
    assert results["good"][1].finish_reason == "length" and results["good"][1].completion_tokens == 40
    (_, after), *_ = await ask_all(engine, [job(endless, prompt(endless, QUESTIONS[2]), 4)])
    assert after.finish_reason == "length", "the engine still serves"


@pytest.mark.anyio
async def test_cancelled_rows_leave_and_close_fails_what_waits(endless: LoadedModel) -> None:
    engine = Engine(max_batch_size=1)
    ids = prompt(endless, QUESTIONS[0], system=None)
    cancelled, running, waiting = job(endless, ids, 500), job(endless, ids, 300), job(endless, ids, 30)
    engine.submit(cancelled)
    while engine.stats.steps < 1:
        await anyio.sleep(0.005)
    cancelled.cancelled.set()
    engine.submit(running)
    results: dict[str, tuple[str, Piece]] = {}

    async def collect(name: str, request: GenerationRequest) -> None:
        results[name] = await answer(request)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect, "running", running)
        tg.start_soon(collect, "waiting", waiting)
        while engine.stats.requests < 2:  # the cancelled row left, the second one runs
            await anyio.sleep(0.005)
        engine.submit(waiting)
        await anyio.to_thread.run_sync(engine.close)
    assert engine.stats.steps < 450, "the cancelled row stopped decoding"
    assert results["running"][1].finish_reason == "length", "what was decoding finishes"
    assert results["waiting"][1].error == "the local provider was closed"
    with pytest.raises(RuntimeError, match="closed"):
        engine.submit(job(endless, ids))


def test_prefix_cache_keeps_within_its_budget(loaded: LoadedModel) -> None:
    prefixes = PrefixCache(loaded, budget_bytes=1)
    assert prefixes.supported
    ids = prompt(loaded, QUESTIONS[0])
    cache = prefixes.expanded(ids[:40], 3)
    assert cache.get_seq_length() == 40
    assert prefixes.entries == {} and prefixes.bytes == 0, "too big to keep, but still used"
    roomy = PrefixCache(loaded)
    roomy.expanded(ids[:40], 1)
    roomy.expanded(ids[:50], 2)  # computed on top of the first
    assert list(roomy.entries) == [tuple(ids[:40]), tuple(ids[:50])]


def test_caches_it_cannot_reshape_decode_as_one_fixed_batch(
    endless: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunewise_local import _engine

    prompts = [prompt(endless, q, system=None) for q in QUESTIONS[:3]]

    def run() -> tuple[list[str], EngineStats]:
        texts = [""] * 3
        requests = [job(endless, ids, budget) for ids, budget in zip(prompts, (3, 9, 6), strict=True)]
        index = {id(request): i for i, request in enumerate(requests)}

        def deliver(pieces: list[tuple[GenerationRequest, Piece]]) -> None:
            for request, piece in pieces:
                texts[index[id(request)]] += piece.delta

        stats = EngineStats()
        batch = prefill(requests, deliver, stats=stats)
        while batch.active:
            batch.step(deliver, stats)
        return texts, stats

    reshaped, stats = run()
    assert stats.rows_decoded == 2 + 8 + 5
    monkeypatch.setattr(_engine, "_dynamic_cache", lambda model: None)  # e.g. an older transformers
    fixed, stats = run()
    assert fixed == reshaped
    assert stats.rows_decoded == 3 * stats.steps == 3 * 8, "every row stays to the end, fed padding when done"

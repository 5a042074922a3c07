"""Embeddings through the provider: vectors in order, batched to the API's limit."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunewise import Embedder
from tunewise_openai._embeddings import batches, decode_vector
from tunewise_openai.fake import FakeServer

pytestmark = pytest.mark.anyio


async def test_embedder_is_a_tunewise_embedder(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        embedder = provider.embedder("text-embedding-3-small")
        assert isinstance(embedder, Embedder)
        assert embedder.name == "openai:text-embedding-3-small" and embedder.dimension == 1536
        vectors = await embedder.embed(["refund policy", "reset my password", "refund policy"])
        assert await embedder.embed([]) == []
    assert [len(v) for v in vectors] == [1536] * 3
    assert vectors[0] == pytest.approx(vectors[2])
    assert math.sqrt(sum(x * x for x in vectors[0])) == pytest.approx(1.0, abs=1e-5)


async def test_many_texts_are_batched_to_the_limit_and_kept_in_order(provider_factory: Any, fake: FakeServer) -> None:
    texts = [f"document number {i}" for i in range(5000)]
    async with provider_factory() as provider:
        embedder = provider.embedder("text-embedding-3-small", dimensions=4)
        vectors = await embedder.embed(texts)
        singles = [(await embedder.embed([texts[i]]))[0] for i in (0, 2047, 2048, 4999)]
    assert len(vectors) == 5000 and embedder.dimension == 4
    assert [vectors[i] for i in (0, 2047, 2048, 4999)] == singles  # order survives batching
    # the fake rejects > 2048 inputs per request: 5000 texts took 3 requests (+4 singles)
    assert fake.stats()["requests_by_path"]["/v1/embeddings"] == 3 + 4


async def test_unknown_dimension_is_learned_from_the_first_call(provider_factory: Any) -> None:
    async with provider_factory() as provider:
        embedder = provider.embedder("text-embedding-3-large")
        assert embedder.dimension == 3072
        other = provider.embedder("text-embedding-3-small", dimensions=None)
        other._dimension = None  # a model the plugin has no table entry for
        await other.embed(["x"])
        assert other.dimension == 1536


def test_batches_respect_count_and_token_budget() -> None:
    assert [len(b) for _, b in batches(["a"] * 5, size=2)] == [2, 2, 1]
    long = ["x" * 3000] * 10  # ~1000 tokens each
    split = batches(long, size=2048, max_tokens=2500)
    assert [start for start, _ in split] == [0, 2, 4, 6, 8]


def test_vectors_decode_from_float_or_base64() -> None:
    assert decode_vector([1, 0.5]) == [1.0, 0.5]
    assert decode_vector("AACAPwAAAD8=") == [1.0, 0.5]

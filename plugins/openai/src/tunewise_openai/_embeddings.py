"""Embeddings as a [`tunewise.Embedder`][tunewise.Embedder], batched to the API's per-request limits."""

from __future__ import annotations

import base64
import struct
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tunewise import ServerError
from tunewise.interfaces.embedder import check_texts
from tunewise_openai._http import HTTPClient, json_object
from tunewise_openai._tasks import run_all

KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_REQUEST_TOKENS = 300_000
"""OpenAI's limit on tokens summed over one request's inputs."""


def batches(texts: Sequence[str], *, size: int, max_tokens: int = MAX_REQUEST_TOKENS) -> list[tuple[int, list[str]]]:
    """Split texts into ``(start, batch)`` runs of at most ``size`` inputs and ~``max_tokens`` tokens.

    Tokens are estimated at 3 characters each, on the safe side of OpenAI's ~4.
    """
    out: list[tuple[int, list[str]]] = []
    start, tokens = 0, 0
    current: list[str] = []
    for index, text in enumerate(texts):
        cost = len(text) // 3 + 1
        if current and (len(current) >= size or tokens + cost > max_tokens):
            out.append((start, current))
            start, current, tokens = index, [], 0
        current.append(text)
        tokens += cost
    if current:
        out.append((start, current))
    return out


def decode_vector(value: Any) -> list[float]:
    """A vector from ``encoding_format`` ``float`` (a list) or ``base64`` (packed float32)."""
    if isinstance(value, str):
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return [float(v) for v in value]


class OpenAIEmbedder:
    """``provider.embedder("text-embedding-3-small")``: texts in, one vector per text out.

    ``dimensions`` asks text-embedding-3 models for shorter vectors. The dimension is
    known up front for OpenAI's models (or from ``dimensions``), else after the first call.
    """

    def __init__(
        self, http: HTTPClient, model: str, *, provider: str, dimensions: int | None = None, batch_size: int = 2048
    ) -> None:
        self.name = f"{provider}:{model}" + (f"@{dimensions}" if dimensions else "")
        self.model = model
        self._http = http
        self._provider = provider
        self._requested = dimensions
        self._dimension = dimensions or KNOWN_DIMENSIONS.get(model)
        self._batch_size = batch_size

    def __repr__(self) -> str:
        return f"<OpenAIEmbedder {self.name!r}>"

    @property
    def dimension(self) -> int | None:
        return self._dimension

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batches run concurrently within the provider's limits."""
        check_texts(texts)
        vectors: list[list[float]] = [[] for _ in texts]

        def run(start: int, batch: list[str]) -> Callable[[], Awaitable[None]]:
            async def job() -> None:
                for offset, vector in enumerate(await self._embed_batch(batch)):
                    vectors[start + offset] = vector

            return job

        jobs = [run(start, batch) for start, batch in batches(texts, size=self._batch_size)]
        await run_all(jobs, provider=self._provider, action="POST embeddings")
        if vectors and self._dimension is None:
            self._dimension = len(vectors[0])
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        body: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self._requested:
            body["dimensions"] = self._requested
        action = "POST embeddings"

        def parse(response: Any) -> list[list[float]]:
            data = json_object(response, provider=self._provider, action=action)
            items = sorted(data.get("data") or [], key=lambda item: item["index"])
            if len(items) != len(batch):
                raise ServerError(
                    f"{action}: sent {len(batch)} inputs, got {len(items)} vectors back",
                    request_id=response.headers.get("x-request-id"),
                    retryable=True,
                    provider=self._provider,
                )
            return [decode_vector(item["embedding"]) for item in items]

        return await self._http.request("POST", "embeddings", parse, json=body)

"""``OpenAIProvider``: the OpenAI API, or any OpenAI-compatible server, as a tunewise Provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from tunewise import BaseProvider, ChatChunk, ChatRequest, ChatResponse
from tunewise.interfaces.provider import Capability
from tunewise.plugin import get_logger
from tunewise_openai import CAPABILITIES
from tunewise_openai._chat import chat_body, parse_completion
from tunewise_openai._http import HTTPClient, json_body, json_object
from tunewise_openai._options import OpenAIOptions
from tunewise_openai._stream import iter_chunks

if TYPE_CHECKING:
    import httpx

    from tunewise import ProviderConfig
    from tunewise_openai._batches import Batches
    from tunewise_openai._embeddings import OpenAIEmbedder
    from tunewise_openai._files import Files
    from tunewise_openai._finetune import OpenAIFineTuner

DEFAULT_BASE_URL = "https://api.openai.com/v1"
log = get_logger("tunewise.openai")


def is_openai(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API (which needs a key and ``max_completion_tokens``)."""
    return (urlsplit(base_url).hostname or "").endswith("api.openai.com")


class OpenAIProvider(BaseProvider):
    """Chat, streaming, embeddings, files, fine-tuning and batches over one pooled httpx client.

    Args:
        base_url: the server's API root (``https://api.openai.com/v1``,
            ``http://localhost:11434/v1`` for Ollama...).
        api_key: the key, sent as a bearer token; None for servers that need none.
        name: the prefix this provider serves (``openai``, ``ollama``...), used in model
            refs of fine-tuned models and in error messages.
        options: [`OpenAIOptions`][tunewise_openai.OpenAIOptions] or the same as a mapping (from tunewise.toml).
        home: tunewise's data directory, for fine-tune idempotency records (default:
            the settings' ``home``).

    The key is kept as a `SecretStr`; it appears in no repr, log or error.
    """

    capabilities: frozenset[Capability] = CAPABILITIES

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str | None = None,
        name: str = "openai",
        options: OpenAIOptions | Mapping[str, Any] | None = None,
        home: Path | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.options = OpenAIOptions.parse(options, profile=name)
        self.poll_interval = self.options.poll_interval
        self._home = home
        key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._http = HTTPClient(provider=name, base_url=self.base_url, api_key=key, options=self.options)
        self._max_tokens_param = self.options.max_tokens_param or (
            "max_completion_tokens" if is_openai(self.base_url) else "max_tokens"
        )
        self._files: Files | None = None
        self._batches: Batches | None = None
        self._tuner: OpenAIFineTuner | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAIProvider:
        """Build from a resolved profile; OpenAI's own API without a key is a one-line MissingAPIKeyError."""
        base_url = config.base_url or DEFAULT_BASE_URL
        key = config.require_api_key() if is_openai(base_url) or config.api_key_env else config.api_key
        return cls(base_url=base_url, api_key=key, name=config.name, options=config.options, home=config.home)

    def __repr__(self) -> str:
        parts = urlsplit(self.base_url)  # without any user:password@ in the URL
        host = parts.hostname or ""
        where = parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl() if host else ""
        return f"<OpenAIProvider {self.name!r} {where}>"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OpenAIProvider:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- chat ----------------------------------------------------------------------------------

    def _body(self, request: ChatRequest, *, stream: bool = False) -> dict[str, Any]:
        return chat_body(
            request,
            provider=self.name,
            max_tokens_param=self._max_tokens_param,
            stream=stream,
            include_usage=self.options.include_usage,
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One chat completion, retried on transient failures; a refusal raises StructuredOutputError."""
        body = self._body(request)
        started = time.perf_counter()
        name = self.name

        def parse(response: httpx.Response) -> ChatResponse:
            data = json_body(response, provider=name, action="POST chat/completions")
            return parse_completion(
                data,
                provider=name,
                request_id=response.headers.get("x-request-id"),
                latency_s=time.perf_counter() - started,
            )

        return await self._http.request("POST", "chat/completions", parse, json=body)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer chunk by chunk.

        Opening the stream, and a stream cut off before its first chunk reached you, are
        retried out of one budget of ``max_retries + 1`` attempts; a stream cut off later
        raises [`StreamInterruptedError`][tunewise.StreamInterruptedError] (a partial answer is never passed off as
        whole).
        """
        body = self._body(request, stream=True)
        name = self.name
        async for chunk in self._http.stream(
            "chat/completions", body, lambda response: iter_chunks(response, provider=name)
        ):
            yield chunk

    # -- the rest of the API --------------------------------------------------------------------

    def embedder(self, model: str = "text-embedding-3-small", *, dimensions: int | None = None) -> OpenAIEmbedder:
        """An [`Embedder`][tunewise.Embedder] for ``model`` (``dimensions`` shortens text-embedding-3 vectors)."""
        from tunewise_openai._embeddings import OpenAIEmbedder

        return OpenAIEmbedder(
            self._http, model, provider=self.name, dimensions=dimensions, batch_size=self.options.embed_batch_size
        )

    @property
    def files(self) -> Files:
        """The Files API (upload for fine-tune or batch, read, delete)."""
        if self._files is None:
            from tunewise_openai._files import Files

            self._files = Files(self._http)
        return self._files

    @property
    def batches(self) -> Batches:
        """The Batch API: ``await provider.batches.run(requests)``."""
        if self._batches is None:
            from tunewise_openai._batches import Batches
            from tunewise_openai._records import RecordStore

            self._batches = Batches(
                self._http,
                self.files,
                provider=self.name,
                max_tokens_param=self._max_tokens_param,
                poll_interval=self.poll_interval,
                records=RecordStore(self.home / "openai" / "batches"),
            )
        return self._batches

    @property
    def home(self) -> Path:
        """Where job and batch records are kept (``<tunewise home>``)."""
        if self._home is None:
            from tunewise import load_settings

            self._home = load_settings().home
        return self._home

    def fine_tuner(self) -> OpenAIFineTuner:
        """Fine-tuning jobs, started idempotently (records under ``<home>/openai``)."""
        if self._tuner is None:
            from tunewise_openai._finetune import OpenAIFineTuner

            self._tuner = OpenAIFineTuner(
                self._http, self.files, provider=self.name, home=self.home, poll_interval=self.poll_interval
            )
        return self._tuner

    async def models(self) -> list[str]:
        """The model ids the server lists."""

        def parse(response: httpx.Response) -> list[str]:
            data = json_object(response, provider=self.name, action="GET models")
            return [str(item["id"]) for item in data.get("data") or []]

        return await self._http.request("GET", "models", parse)

"""``EchoProvider``: answers with the last user message, one character per token.

Everything a real provider does is here in miniature: options validated from the
profile, an API key kept secret, ``stop`` and ``max_tokens``, usage, streaming, errors
mapped to tunewise's tree, and an embedder.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tunewise import (
    AuthenticationError,
    BadRequestError,
    BaseProvider,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    NotFoundError,
    ProviderConfig,
    Usage,
)
from tunewise.plugin import config_error
from tunewise_echo import CAPABILITIES
from tunewise_echo._embedder import CharacterEmbedder

CHAT_MODELS = ("parrot",)
EMBEDDING_MODELS = ("chars",)


class EchoOptions(BaseModel):
    """What ``[profiles.NAME] options = {...}`` may set for an ``echo`` profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shout: bool = False
    """Answer in capitals."""
    latency: float = Field(default=0.0, ge=0, le=60)
    """Seconds to wait before answering, as a remote service would."""

    @classmethod
    def parse(cls, options: Mapping[str, Any], *, profile: str) -> EchoOptions:
        """Validate options from settings; a bad one is a one-line [`ConfigError`][tunewise.ConfigError]."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as exc:
            raise config_error(exc, f"profiles.{profile}.options", known=cls.model_fields) from None


class EchoProvider(BaseProvider):
    """One configured connection to the (imaginary) echo service."""

    capabilities = CAPABILITIES

    def __init__(
        self, *, name: str = "echo", api_key: SecretStr | None = None, options: EchoOptions | None = None
    ) -> None:
        self.name = name  # the prefix the user typed: "echo", or a profile's name
        self.options = options or EchoOptions()
        self._api_key = api_key  # SecretStr: prints as '**********', read only where it is sent

    @classmethod
    def from_config(cls, config: ProviderConfig) -> EchoProvider:
        options = EchoOptions.parse(config.options, profile=config.name)
        return cls(name=config.name, api_key=config.api_key, options=options)

    async def _answer(self, request: ChatRequest) -> tuple[str, Literal["stop", "length"]]:
        # A real plugin sends the request here and maps the service's errors (see docs/plugins.md).
        # The echo service needs no key, but rejects one that does not start with "echo-".
        if self._api_key is not None and not self._api_key.get_secret_value().startswith("echo-"):
            raise AuthenticationError("API key rejected; echo keys start with 'echo-'", status=401, provider=self.name)
        if request.model not in CHAT_MODELS:
            raise NotFoundError(
                f"no model {request.model!r}; echo serves {', '.join(CHAT_MODELS)}", status=404, provider=self.name
            )
        users = [m.content for m in request.messages if m.role == "user" and m.content]
        if not users:
            raise BadRequestError("nothing to echo: the conversation has no user message", provider=self.name)
        await anyio.sleep(self.options.latency)
        text = users[-1].upper() if self.options.shout else users[-1]
        for stop in request.stop or ():
            if stop:
                text = text.split(stop, 1)[0]
        if request.max_tokens is not None and len(text) > request.max_tokens:
            return text[: request.max_tokens], "length"
        return text, "stop"

    @staticmethod
    def _usage(request: ChatRequest, text: str) -> Usage:
        """One character is one token; echo has no prompt cache."""
        prompt = sum(len(m.content or "") for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=len(text), cached_prompt_tokens=0)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        text, finish = await self._answer(request)
        return ChatResponse(
            text=text,
            model=request.model,
            finish_reason=finish,
            usage=self._usage(request, text),
            latency_s=time.perf_counter() - started,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        text, finish = await self._answer(request)
        for char in text[:-1]:
            yield ChatChunk(delta=char, model=request.model)
        # Exactly one final chunk: the last delta, finish_reason and usage together.
        usage = self._usage(request, text)
        yield ChatChunk(delta=text[-1:], finish_reason=finish, usage=usage, model=request.model)

    def embedder(self, model: str = "chars") -> CharacterEmbedder:
        if model not in EMBEDDING_MODELS:
            raise NotFoundError(
                f"no embedding model {model!r}; echo serves {', '.join(EMBEDDING_MODELS)}", provider=self.name
            )
        return CharacterEmbedder(name=f"{self.name}:{model}")

"""The plugin's options: what ``profiles.<name>.options`` in tunewise.toml may set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tunewise.plugin import config_error


class OpenAIOptions(BaseModel):
    """Timeouts, retries, client-side limits and headers for one OpenAI-compatible server.

    Every field has a default that suits api.openai.com; compatible servers (Ollama,
    vLLM...) usually need none changed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(default=600.0, gt=0)
    """Seconds to wait for a response (read, write and pool)."""
    connect_timeout: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    """Retries after the first attempt for 408, 409, 429, 5xx, timeouts and dropped connections."""
    backoff_initial: float = Field(default=0.5, ge=0)
    """First backoff in seconds; it doubles each retry (with full jitter) up to ``backoff_max``."""
    backoff_max: float = Field(default=20.0, ge=0)
    max_retry_after: float = Field(default=60.0, ge=0)
    """Longest ``Retry-After`` honoured; a server asking for more gets this much."""
    rpm: int | None = Field(default=None, gt=0)
    """Client-side requests per minute (None: no limit)."""
    tpm: int | None = Field(default=None, gt=0)
    """Client-side tokens per minute, estimated from the request before it is sent."""
    max_concurrency: int | None = Field(default=None, gt=0)
    """Most requests in flight at once (None: only the connection pool limits it)."""
    max_connections: int = Field(default=256, gt=0)
    pool_shards: int = Field(default=16, gt=0)
    """Connection pools the connections are split over (httpx's pool slows down past a few
    dozen connections; see docs/openai.md)."""
    organization: str | None = None
    project: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool = False
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] | None = None
    """Field that carries ``max_tokens``: None picks ``max_completion_tokens`` for
    api.openai.com (reasoning models accept no other) and ``max_tokens`` elsewhere."""
    include_usage: bool = True
    """Ask streams for a final usage chunk (``stream_options.include_usage``)."""
    poll_interval: float = Field(default=5.0, ge=0)
    """First interval in seconds between polls of fine-tune jobs and batches (it grows while waiting)."""
    embed_batch_size: int = Field(default=2048, gt=0, le=2048)
    """Inputs per embeddings request (OpenAI's limit is 2048)."""

    @classmethod
    def parse(cls, options: Mapping[str, Any] | OpenAIOptions | None, *, profile: str = "openai") -> OpenAIOptions:
        """Validate options from settings; a bad one is a one-line [`ConfigError`][tunewise.ConfigError]."""
        if isinstance(options, OpenAIOptions):
            return options
        try:
            return cls.model_validate(dict(options or {}))
        except ValidationError as exc:
            raise config_error(exc, f"profiles.{profile}.options", known=cls.model_fields) from None

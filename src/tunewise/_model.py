"""``Model``: a model reference bound to its provider, with a friendly call surface."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from tunewise._config_error import first_problem
from tunewise._errors import ConfigError, OptionError
from tunewise._refs import ModelRef
from tunewise._structured import parse_structured
from tunewise._types import ChatChunk, ChatRequest, ChatResponse, Message, ResponseFormat, as_messages
from tunewise.interfaces.provider import Provider

if TYPE_CHECKING:
    from types import TracebackType

    from tunewise._sync import SyncModel

T = TypeVar("T", bound=BaseModel)

Conversation = str | Message | Iterable[Message | Mapping[str, Any]]
"""What ``chat``, ``parse`` and ``stream`` take: a user string, or messages (dicts in OpenAI format or ``Message``)."""

CALL_OPTIONS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "response_format",
    "tools",
    "extra_body",
)
"""Keyword options ``chat``, ``parse``, ``stream`` and ``request`` take. ``extra_body`` is a dict of
vendor fields sent untouched (``{"logprobs": True}``); any other name is an [`OptionError`][tunewise.OptionError]."""


def request_fields(options: Mapping[str, Any], *, what: str = "chat option") -> dict[str, Any]:
    """Call options as [`ChatRequest`][tunewise.ChatRequest] fields; an unknown name is a one-line `OptionError`.

    ``stop`` may be one string; ``extra_body`` becomes the request's ``extra``.
    """
    from tunewise._suggest import unknown_name

    fields: dict[str, Any] = {}
    for name, value in options.items():
        if name not in CALL_OPTIONS:
            raise OptionError(unknown_name(what, name, CALL_OPTIONS) + "; send vendor fields with extra_body={...}")
        if name == "extra_body":
            if value is None:
                continue
            if not isinstance(value, Mapping):
                kind = type(value).__name__
                raise OptionError(f"{what} extra_body: expected a dict of vendor fields, got {kind}")
            bad = sorted(str(k) for k in value if not isinstance(k, str))
            if bad:
                raise OptionError(f"{what} extra_body: keys must be strings, got {', '.join(bad)}")
            fields["extra"] = dict(value)
        elif name == "stop" and isinstance(value, str):
            fields["stop"] = (value,)
        else:
            fields[name] = value
    return fields


def build_request(
    model: str, conversation: Conversation, options: Mapping[str, Any], *, what: str = "chat option"
) -> ChatRequest:
    """The [`ChatRequest`][tunewise.ChatRequest] for ``conversation`` and call options; every problem is one line.

    ``what`` names the options in messages (``chat option temperature: ...``).
    """
    from pydantic import ValidationError

    messages = as_messages(conversation)
    fields = request_fields(options, what=what)
    try:
        return ChatRequest(model=model, messages=messages, **fields)
    except ValidationError as exc:
        loc, message, _ = first_problem(exc)
        name = "extra_body" if loc.split(".")[0].split("[")[0] == "extra" else loc
        raise OptionError(f"{what} {name}: {message}") from None


def _check_output_type(output_type: Any) -> None:
    if not (isinstance(output_type, type) and issubclass(output_type, BaseModel)):
        shown = output_type.__name__ if isinstance(output_type, type) else f"a {type(output_type).__name__} value"
        raise OptionError(f"output_type: expected a pydantic BaseModel subclass, got {shown}")


class Model:
    """``tunewise.model("openai:gpt-4o-mini")``: chat, stream and parse with one model.

    A ``Model`` works from any event loop: one ``asyncio.run`` after another, or inside one
    that is already running (Jupyter). ``model.sync`` has the same calls for code without a
    loop. Close it with ``await model.aclose()`` or ``async with``:

    - a model from ``tunewise.model(ref)`` or ``Registry.model(ref)`` shares its provider with
      every model of that prefix; closing it gives up its hold, and the provider closes with
      the last model holding it (or with its registry);
    - a model given ``base_url=``, ``api_key=`` or options has a provider of its own, closed with it;
    - ``Model(ref, provider)`` leaves the provider to whoever made it, unless ``owns_provider=True``.
    """

    def __init__(self, ref: ModelRef | str, provider: Provider, *, owns_provider: bool = False) -> None:
        self.ref = ModelRef.parse(ref)
        self.provider = provider
        self._release: Callable[[], Awaitable[None]] | None = provider.aclose if owns_provider else None
        self._closed = False
        self._sync: SyncModel | None = None
        self._lock = threading.Lock()

    @classmethod
    def _holding(cls, ref: ModelRef, provider: Provider, release: Callable[[], Awaitable[None]]) -> Model:
        """A model whose ``aclose`` calls ``release`` (a registry's hold on a shared provider)."""
        model = cls(ref, provider)
        model._release = release
        return model

    def __repr__(self) -> str:
        return f"<Model {self.ref}{' closed' if self._closed else ''}>"

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError(f"model {self.ref} is closed; get a new one with tunewise.model({str(self.ref)!r})")

    # -- calls ------------------------------------------------------------------------------

    def request(
        self,
        conversation: Conversation,
        /,
        *,
        output_type: type[BaseModel] | None = None,
        **options: Any,
    ) -> ChatRequest:
        """The exact [`ChatRequest`][tunewise.ChatRequest] that [`chat()`][tunewise.Model.chat] would send.

        Options are those of `CALL_OPTIONS`; a misspelt one is an [`OptionError`][tunewise.OptionError]
        that suggests the right name, and vendor fields go in ``extra_body={...}``.
        """
        if output_type is not None:
            _check_output_type(output_type)
            options["response_format"] = ResponseFormat.for_model(output_type)
        return build_request(self.ref.model, conversation, options)

    async def chat(
        self,
        conversation: Conversation,
        /,
        *,
        output_type: type[BaseModel] | None = None,
        **options: Any,
    ) -> ChatResponse:
        """Send a conversation (or a plain user string) and return the answer.

        With ``output_type``, the answer is requested as that pydantic model's JSON schema
        and ``response.parsed`` holds the validated instance.
        """
        request = self.request(conversation, output_type=output_type, **options)
        self._check_open()
        response = await self.provider.chat(request)
        if output_type is not None:
            parsed = parse_structured(response.text, output_type, provider=self.provider.name)
            response = response.model_copy(update={"parsed": parsed})
        return response

    async def parse(self, conversation: Conversation, output_type: type[T], /, **options: Any) -> T:
        """Ask for ``output_type`` and return the validated instance."""
        response = await self.chat(conversation, output_type=output_type, **options)
        parsed: T = response.parsed
        return parsed

    def stream(self, conversation: Conversation, /, **options: Any) -> AsyncIterator[ChatChunk]:
        """Stream the answer chunk by chunk (the request is checked now, before any iteration)."""
        request = self.request(conversation, **options)
        self._check_open()
        return self.provider.stream(request)

    # -- sync facade and closing ------------------------------------------------------------

    @property
    def sync(self) -> SyncModel:
        """The same calls without ``await``: ``model.sync.chat("hi")``, for scripts and notebooks.

        Calls run on one private event loop in a background thread (kept for this model, so
        connections are reused), and work from inside a running loop too. ``model.sync.close()``
        closes the model; a loop still open at exit is closed then.
        """
        with self._lock:
            if self._sync is None:
                from tunewise._sync import SyncModel

                self._sync = SyncModel(self)
            return self._sync

    async def aclose(self) -> None:
        """Free what this model holds (see the class docstring for who owns the provider). Idempotent."""
        with self._lock:
            sync, self._sync = self._sync, None
        if sync is not None and not sync.in_own_loop():
            import anyio

            await anyio.to_thread.run_sync(sync.stop_loop)
        await self._close_provider()

    async def _close_provider(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            release, self._release = self._release, None
        if release is not None:
            await release()

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

"""How every strategy reaches its model: a ``Model`` or a model-ref string, sent one request at a time.

Strategies accept ``tunewise.Model`` objects or strings such as ``"openai:gpt-4o-mini"``
(resolved through an optional :class:`~tunewise.Registry`, else the process-wide one), so
swapping the scripted provider for OpenAI or a local model is a one-word change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunewise._refs import ModelRef
from tunewise._types import ChatRequest, ChatResponse, Message, Usage
from tunewise.interfaces.strategy import Answer

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._registry import Registry
    from tunewise.evaluation._cache import CacheHit


class ModelCaller:
    """A model handle resolved on first use, plus the request options a strategy always sends."""

    def __init__(self, model: Model | str | ModelRef, registry: Registry | None, options: dict[str, Any]) -> None:
        from tunewise._model import Model

        self._model: Model | None = model if isinstance(model, Model) else None
        self.ref: ModelRef = model.ref if isinstance(model, Model) else ModelRef.parse(model)
        self._registry = registry
        self.options = dict(options)
        if "extra" in self.options:  # what strategy and ladder configs call extra_body
            self.options["extra_body"] = self.options.pop("extra")
        self._check_options()

    def _check_options(self) -> None:
        """Fail at construction, in one line, on options no request could carry (``temperature=5``, a typo)."""
        from tunewise._model import build_request

        build_request(self.ref.model, "check", self.options, what="request option")  # also a ValueError

    @property
    def model(self) -> Model:
        if self._model is None:
            if self._registry is not None:
                self._model = self._registry.model(self.ref)
            else:
                import tunewise

                self._model = tunewise.model(self.ref)
        return self._model

    def request(self, messages: Sequence[Message], **overrides: Any) -> ChatRequest:
        """The exact request this strategy sends for ``messages`` (options of an active ``stream_calls`` win)."""
        from tunewise.strategies._streaming import active_tap

        tap = active_tap()
        ambient = dict(tap.options) if tap is not None else {}
        return self.model.request(list(messages), **{**self.options, **ambient, **overrides})

    async def send(self, request: ChatRequest) -> tuple[ChatResponse, str | None, CacheHit | None]:
        """Send ``request``, or replay it from the response cache when one is in use (see ``use_cache``)."""
        from tunewise.evaluation._cache import active_cache
        from tunewise.strategies._streaming import active_tap, collect_stream

        cache = active_cache()
        tap = active_tap()
        if cache is None and tap is not None and tap.on_chunk is not None:
            provider = self.model.provider
            return await collect_stream(provider.stream(request), request, tap.on_chunk), None, None
        if cache is None:
            return await self.model.provider.chat(request), None, None
        key = cache.key(str(self.ref), request)
        hit = cache.get(key)
        if hit is not None:
            return hit.response, key, hit
        response = await self.model.provider.chat(request)
        cache.put(key, response, str(self.ref))
        return response, key, None


class Recorder:
    """Collects every request and response of one ``respond`` call, in order."""

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []
        self.responses: list[ChatResponse] = []
        self.refs: list[str] = []
        self.cache: list[dict[str, Any] | None] = []

    async def call(self, caller: ModelCaller, messages: Sequence[Message], **overrides: Any) -> ChatResponse:
        request = caller.request(messages, **overrides)
        self.requests.append(request)
        self.refs.append(str(caller.ref))
        response, key, hit = await caller.send(request)
        self.responses.append(response)
        entry = None if key is None else {"key": key, "hit": hit is not None, "cost": hit.cost if hit else None}
        self.cache.append(entry)
        return response

    def answer(self, strategy: str, response: ChatResponse | None = None, **fields: Any) -> Answer:
        """An :class:`Answer` holding exactly the calls recorded; ``response`` overrides the last one."""
        metadata = {"model_refs": list(self.refs), **fields.pop("metadata", {})}
        if any(entry is not None for entry in self.cache):
            metadata["cache"] = list(self.cache)
        final = response if response is not None else self.responses[-1]
        return Answer(
            strategy=strategy,
            response=final,
            requests=tuple(self.requests),
            responses=tuple(self.responses),
            metadata=metadata,
            **fields,
        )


def no_call_response(text: str, model: str) -> ChatResponse:
    """The response of a strategy that decided not to call a model (a hand-off): zero tokens, truly."""
    return ChatResponse(
        text=text,
        model=model,
        finish_reason="stop",
        usage=Usage(prompt_tokens=0, completion_tokens=0, cached_prompt_tokens=0),
        latency_s=0.0,
    )


def last_user_text(conversation: Sequence[Message]) -> str:
    """The text of the last user message (what retrieval and example selection look at)."""
    for message in reversed(conversation):
        if message.role == "user" and message.content:
            return message.content
    raise ValueError("the conversation has no user message")

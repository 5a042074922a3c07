"""How every strategy reaches its model: a ``Model`` or a model-ref string, sent one request at a time.

Strategies accept ``tunewise.Model`` objects or strings such as ``"openai:gpt-4o-mini"``
(resolved through an optional [`Registry`][tunewise.Registry], else the process-wide one), so
swapping the scripted provider for OpenAI or a local model is a one-word change.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tunewise._refs import ModelRef
from tunewise._types import ChatRequest, ChatResponse, Message, ModelCall, Usage
from tunewise.interfaces.strategy import Answer

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._registry import Registry
    from tunewise.interfaces.provider import Provider

ProviderWrapper = Callable[[str, "Provider"], "Provider"]
"""``wrap(model_ref, provider) -> provider``: the provider a call goes through instead (a cache, a recorder).

The provider returned may also have ``annotate(call: ModelCall) -> ModelCall``, which adds what
it knows about the call just made (a cache says whether it replayed it) to the call's record.
"""

_WRAPPERS: contextvars.ContextVar[tuple[ProviderWrapper, ...]] = contextvars.ContextVar(
    "tunewise_provider_wrappers", default=()
)


def active_wrappers() -> tuple[ProviderWrapper, ...]:
    """The provider wrappers model calls go through in this context, innermost first."""
    return _WRAPPERS.get()


@contextlib.contextmanager
def wrap_providers(wrapper: ProviderWrapper) -> Iterator[ProviderWrapper]:
    """Within the block (and tasks started in it), every strategy's model call goes through ``wrapper``.

    This is how the evaluation runner installs its response cache (``tunewise.evaluation.use_cache``)
    without strategies knowing about it. A wrapped call is sent with ``chat``, never streamed.
    """
    with provider_wrappers((*_WRAPPERS.get(), wrapper)):
        yield wrapper


@contextlib.contextmanager
def provider_wrappers(wrappers: Sequence[ProviderWrapper]) -> Iterator[tuple[ProviderWrapper, ...]]:
    """Within the block, model calls go through exactly ``wrappers`` (innermost first): none for ``()``."""
    chosen = tuple(wrappers)
    token = _WRAPPERS.set(chosen)
    try:
        yield chosen
    finally:
        _WRAPPERS.reset(token)


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

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this caller in a run id: the model reference and the request options."""
        return {"model": str(self.ref), "options": self.options}

    def request(self, messages: Sequence[Message], **overrides: Any) -> ChatRequest:
        """The exact request this strategy sends for ``messages`` (options of an active ``stream_calls`` win)."""
        from tunewise.strategies._streaming import active_tap

        tap = active_tap()
        ambient = dict(tap.options) if tap is not None else {}
        return self.model.request(list(messages), **{**self.options, **ambient, **overrides})

    async def send(self, request: ChatRequest) -> ModelCall:
        """Send ``request`` through the active provider wrappers (see `wrap_providers()`) and record the call."""
        from tunewise.strategies._streaming import active_tap, collect_stream

        ref = str(self.ref)
        provider = self.model.provider
        wrappers = active_wrappers()
        for wrap in wrappers:
            provider = wrap(ref, provider)
        tap = active_tap()
        if not wrappers and tap is not None and tap.on_chunk is not None:
            response = await collect_stream(provider.stream(request), request, tap.on_chunk)
        else:
            response = await provider.chat(request)
        call = ModelCall(model_ref=ref, request=request, response=response)
        annotate: Callable[[ModelCall], ModelCall] | None = getattr(provider, "annotate", None)
        return annotate(call) if annotate is not None else call


class Recorder:
    """Collects every model call of one ``respond`` call, in order."""

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []

    async def call(self, caller: ModelCaller, messages: Sequence[Message], **overrides: Any) -> ChatResponse:
        call = await caller.send(caller.request(messages, **overrides))
        self.calls.append(call)
        return call.response

    def answer(self, strategy: str, response: ChatResponse | None = None, **fields: Any) -> Answer:
        """An [`Answer`][tunewise.Answer] holding exactly the calls recorded; ``response`` overrides the last one."""
        final = response if response is not None else self.calls[-1].response
        return Answer(
            strategy=strategy,
            response=final,
            requests=tuple(call.request for call in self.calls),
            responses=tuple(call.response for call in self.calls),
            calls=tuple(self.calls),
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

"""``Strategy``: one way of answering (zero-shot, few-shot, RAG, fine-tuned...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tunewise._types import ChatRequest, ChatResponse, Message, ModelCall, Usage
from tunewise.interfaces.retriever import Hit


class Answer(BaseModel):
    """A strategy's answer with exactly what produced it.

    ``requests`` lists every request sent, in order (a chain-of-thought strategy may
    send more than one); ``response`` is the final one's answer. ``calls`` holds one typed
    [`ModelCall`][tunewise.ModelCall] per model call (model reference, request, response, and
    whether a cache replayed it), which is what the evaluation runner prices and stores.
    """

    model_config = ConfigDict(frozen=True)

    strategy: str
    response: ChatResponse
    requests: tuple[ChatRequest, ...]
    responses: tuple[ChatResponse, ...] = ()
    hits: tuple[Hit, ...] = ()
    calls: tuple[ModelCall, ...] = ()
    """Every model call, in order; empty for a strategy that does not record them (its calls are then priced by
    ``response.model``)."""
    handoff: bool = False
    """True when the strategy decided a human should answer (e.g. retrieval found nothing)."""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """The final answer's text."""
        return self.response.text

    @property
    def usage(self) -> Usage:
        """Tokens of every call the strategy made, added up."""
        calls = self.responses or (self.response,)
        total = calls[0].usage
        for r in calls[1:]:
            total = total + r.usage
        return total


@runtime_checkable
class Strategy(Protocol):
    """One way of answering a conversation: what to send to which model, and what to make of the reply."""

    name: str

    async def respond(self, conversation: Sequence[Message]) -> Answer:
        """Answer the conversation; the [`Answer`][tunewise.Answer] records every model call made."""
        ...

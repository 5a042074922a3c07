"""``Model``: a model reference bound to its provider, with a friendly call surface."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from tunewise._refs import ModelRef
from tunewise._structured import parse_structured
from tunewise._types import ChatChunk, ChatRequest, ChatResponse, Message, ResponseFormat, as_messages
from tunewise.interfaces.provider import Provider

T = TypeVar("T", bound=BaseModel)


class Model:
    """``tunewise.model("openai:gpt-4o-mini")``: chat, stream and parse with one model."""

    def __init__(self, ref: ModelRef, provider: Provider) -> None:
        self.ref = ref
        self.provider = provider

    def __repr__(self) -> str:
        return f"<Model {self.ref}>"

    def request(
        self,
        conversation: str | Sequence[Message | dict[str, Any]],
        *,
        output_type: type[BaseModel] | None = None,
        **options: Any,
    ) -> ChatRequest:
        """The exact :class:`ChatRequest` that :meth:`chat` would send."""
        if output_type is not None:
            options["response_format"] = ResponseFormat.for_model(output_type)
        known = set(ChatRequest.model_fields) - {"model", "messages", "extra"}
        extra = {k: options.pop(k) for k in list(options) if k not in known}
        return ChatRequest(model=self.ref.model, messages=as_messages(conversation), extra=extra, **options)

    async def chat(
        self,
        conversation: str | Sequence[Message | dict[str, Any]],
        *,
        output_type: type[BaseModel] | None = None,
        **options: Any,
    ) -> ChatResponse:
        """Send a conversation (or a plain user string) and return the answer.

        With ``output_type``, the answer is requested as that pydantic model's JSON schema
        and ``response.parsed`` holds the validated instance.
        """
        request = self.request(conversation, output_type=output_type, **options)
        response = await self.provider.chat(request)
        if output_type is not None:
            parsed = parse_structured(response.text, output_type, provider=self.provider.name)
            response = response.model_copy(update={"parsed": parsed})
        return response

    async def parse(
        self, conversation: str | Sequence[Message | dict[str, Any]], output_type: type[T], **options: Any
    ) -> T:
        """Ask for ``output_type`` and return the validated instance."""
        response = await self.chat(conversation, output_type=output_type, **options)
        parsed: T = response.parsed
        return parsed

    def stream(
        self, conversation: str | Sequence[Message | dict[str, Any]], **options: Any
    ) -> AsyncIterator[ChatChunk]:
        """Stream the answer chunk by chunk."""
        return self.provider.stream(self.request(conversation, **options))

"""The data model every part of tunewise speaks: OpenAI's chat message format.

It is what users already have, what OpenAI fine-tuning takes, and what local chat
templates take, so a conversation moves between providers, datasets and strategies
without conversion.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tunewise._errors import ProviderError

Role = Literal["system", "developer", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class FunctionCall(BaseModel):
    """The function a tool call invokes, with its JSON-encoded arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    """One tool call made by the assistant (OpenAI's ``tool_calls[]`` item)."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One chat message: ``{"role": ..., "content": ...}`` plus tool fields.

    ``weight`` is OpenAI fine-tuning's per-message switch (0 = do not train on this
    assistant message); inference ignores it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    weight: Literal[0, 1] | None = None

    @model_validator(mode="after")
    def _check_shape(self) -> Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.content is None and not self.tool_calls:
            raise ValueError(f"a {self.role} message needs content or tool_calls")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls(role="assistant", content=content)

    def to_openai(self) -> dict[str, Any]:
        """The message as OpenAI's API takes it (no ``None`` fields, no weight)."""
        return self.model_dump(exclude_none=True, exclude={"weight"})


def as_messages(conversation: str | Message | Iterable[Message | Mapping[str, Any]]) -> tuple[Message, ...]:
    """Accept a plain string, dicts in OpenAI format, or [`Message`][tunewise.Message] objects.

    Anything else is a one-line [`ConversationError`][tunewise.ConversationError] naming the message
    and field: ``conversation[2].role: expected one of system, developer, user, assistant,
    tool; got 'bot'``.
    """
    from tunewise._errors import ConversationError

    if isinstance(conversation, str):
        return (Message.user(conversation),)
    if isinstance(conversation, Message):
        return (conversation,)
    if isinstance(conversation, Mapping):
        raise ConversationError(
            "expected a string or a list of messages, got one message dict; wrap it in a list", field="conversation"
        )
    if isinstance(conversation, bytes | bytearray | memoryview) or not isinstance(conversation, Iterable):
        raise ConversationError(
            "expected a string or a list of messages ({'role': ..., 'content': ...} dicts or tunewise.Message), "
            f"got {type(conversation).__name__}",
            field="conversation",
        )
    messages = tuple(_as_message(item, f"conversation[{i}]") for i, item in enumerate(conversation))
    if not messages:
        raise ConversationError("a conversation needs at least one message, got none", field="conversation")
    return messages


def _as_message(item: Any, where: str) -> Message:
    from pydantic import ValidationError

    from tunewise._errors import ConversationError

    if isinstance(item, Message):
        return item
    if not isinstance(item, Mapping):
        raise ConversationError(
            f"expected a message ({{'role': ..., 'content': ...}} or tunewise.Message), got {type(item).__name__}",
            field=where,
        )
    try:
        return Message.model_validate(dict(item))
    except ValidationError as exc:
        field, reason = _message_problem(exc, item)
        raise ConversationError(reason, field=f"{where}{field}") from None


def _message_problem(exc: Any, item: Mapping[str, Any]) -> tuple[str, str]:
    """The first problem pydantic found in a message, as (``.field`` or ``""``, one-line reason)."""
    from tunewise._suggest import did_you_mean

    errors = exc.errors()
    # a misspelt field is both "extra" and "missing": name the misspelling, it is what to fix
    error = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    loc = [str(p) for p in error["loc"]]
    field = "".join(f"[{p}]" if p.isdigit() else f".{p}" if p.isidentifier() else f"[{p!r}]" for p in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        reason = f"unknown field{did_you_mean(loc[-1], Message.model_fields)}"
    elif kind == "literal_error" and loc == ["role"]:
        reason = f"expected one of {', '.join(get_args(Role))}; got {_short(error.get('input'))}"
    elif kind == "missing":
        reason = "missing"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        reason = f"{error['msg'].lower()}; got {type(error.get('input')).__name__} {_short(error.get('input'))}"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
    return field, " ".join(reason.split())


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Usage(BaseModel):
    """Tokens a call used. ``None`` means the provider did not say; it is never a silent 0."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_prompt_tokens: int | None = None
    compute_s: float | None = None
    """Seconds of this machine's compute the call used, for providers that run the model here
    (``local``): a batched decoding step's time is shared among the rows in it. Local models are
    priced by it (compute time x the device's hourly rate); ``None`` for remote APIs."""
    compute_device: str | None = None
    """What ``compute_s`` ran on: ``cpu``, or a GPU kind such as ``nvidia-h100`` (picks the hourly rate)."""

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a + b

        both = self.compute_s is not None and other.compute_s is not None
        same = self.compute_device == other.compute_device
        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
            cached_prompt_tokens=add(self.cached_prompt_tokens, other.cached_prompt_tokens),
            compute_s=(self.compute_s or 0.0) + (other.compute_s or 0.0) if both and same else None,
            compute_device=self.compute_device if same else None,
        )


class ResponseFormat(BaseModel):
    """OpenAI's ``response_format``: plain text, any JSON object, or a JSON schema."""

    model_config = ConfigDict(frozen=True)

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool = True

    @classmethod
    def for_model(cls, output_type: builtins.type[BaseModel]) -> ResponseFormat:
        """A strict ``json_schema`` format built from a pydantic model."""
        from tunewise._structured import strict_json_schema

        return cls(
            type="json_schema",
            name=output_type.__name__,
            schema=strict_json_schema(output_type),
        )

    def to_openai(self) -> dict[str, Any]:
        if self.type != "json_schema":
            return {"type": self.type}
        return {
            "type": "json_schema",
            "json_schema": {"name": self.name or "output", "schema": self.json_schema, "strict": self.strict},
        }


class ChatRequest(BaseModel):
    """Everything a provider needs for one chat completion.

    ``model`` is the provider-side model name (``gpt-4o-mini``), not the full
    ``openai:`` reference: the reference picked the provider already.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    messages: tuple[Message, ...] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific fields passed through untouched (e.g. ``{"logprobs": True}``)."""

    def fingerprint(self) -> str:
        """A stable hash of the request, for caches and idempotency keys."""
        import hashlib

        return hashlib.sha256(self.model_dump_json(by_alias=True).encode()).hexdigest()


class ChatResponse(BaseModel):
    """One completed answer."""

    model_config = ConfigDict(frozen=True)

    text: str
    model: str
    finish_reason: FinishReason | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    """Wall time from sending the request to the last byte of the answer."""
    request_id: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    parsed: Any = None
    """The validated structured output when the request asked for a pydantic type."""

    def as_message(self) -> Message:
        return Message(role="assistant", content=self.text, tool_calls=self.tool_calls)

    @classmethod
    def from_chunks(
        cls, chunks: Iterable[ChatChunk], *, model: str | None = None, latency_s: float | None = None
    ) -> ChatResponse:
        """The answer a stream adds up to: what ``chat`` returns for the same request.

        Text deltas are joined; tool-call fragments are joined per ``index``, in index order,
        taking ``id`` and ``name`` from the first fragment that has them. A fragment with a new
        ``id`` at an index already in use starts another call (Ollama streams every parallel
        call at index 0, told apart only by id). ``model`` names the
        model when no chunk does. A tool call left without an id or a name raises
        [`ProviderError`][tunewise.ProviderError]: the provider streamed something that is not a call.
        """
        text: list[str] = []
        calls: list[tuple[int, _CallParts]] = []  # (index, parts) in order of arrival
        open_calls: dict[int, _CallParts] = {}
        finish: FinishReason | None = None
        usage: Usage | None = None
        named: str | None = None
        request_id: str | None = None
        for chunk in chunks:
            text.append(chunk.delta)
            for piece in chunk.tool_calls or ():
                parts = open_calls.get(piece.index)
                # a new id at an index already in use opens another call: Ollama numbers every call 0
                if parts is None or (piece.id and parts.id and piece.id != parts.id):
                    parts = open_calls[piece.index] = _CallParts()
                    calls.append((piece.index, parts))
                parts.add(piece)
            finish = chunk.finish_reason or finish
            usage = chunk.usage or usage
            named = chunk.model or named
            request_id = chunk.request_id or request_id
        return cls(
            text="".join(text),
            model=named or model or "",
            finish_reason=finish,
            usage=usage or Usage(),
            latency_s=latency_s,
            request_id=request_id,
            tool_calls=tuple(parts.call(i, request_id) for i, parts in sorted(calls, key=lambda c: c[0])) or None,
        )


class ToolCallDelta(BaseModel):
    """A fragment of a tool call in a streamed answer (OpenAI's ``delta.tool_calls[]`` item).

    The first fragment of call ``index`` carries its ``id`` and ``name``; the following ones
    add pieces of the JSON ``arguments``. [`ChatResponse.from_chunks()`][tunewise._types.ChatResponse.from_chunks] joins
    them.
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0)
    id: str | None = None
    type: Literal["function"] = "function"
    name: str | None = None
    arguments: str = ""

    @classmethod
    def from_call(cls, call: ToolCall, index: int) -> ToolCallDelta:
        """A whole tool call as one fragment (for providers that do not stream arguments)."""
        return cls(index=index, id=call.id, name=call.function.name, arguments=call.function.arguments)


class _CallParts:
    """The fragments of one streamed tool call, as they arrive."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []

    def add(self, piece: ToolCallDelta) -> None:
        self.id = self.id or piece.id
        self.name = self.name or piece.name
        self.arguments.append(piece.arguments)

    def call(self, index: int, request_id: str | None) -> ToolCall:
        if self.id and self.name:
            arguments = "".join(self.arguments) or "{}"  # as chat reads a call without arguments
            return ToolCall(id=self.id, function=FunctionCall(name=self.name, arguments=arguments))
        missing = " or ".join(what for what, value in (("an id", self.id), ("a name", self.name)) if not value)
        raise ProviderError(
            f"streamed tool call {index} was never opened: no fragment gave it {missing}", request_id=request_id
        )


class ChatChunk(BaseModel):
    """One piece of a streamed answer. The last chunk carries ``finish_reason`` and usage.

    ``tool_calls`` holds the tool-call fragments that arrived with this chunk, if any;
    [`ChatResponse.from_chunks()`][tunewise._types.ChatResponse.from_chunks] assembles a whole stream.
    """

    model_config = ConfigDict(frozen=True)

    delta: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    model: str | None = None
    request_id: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] | None = None


class ModelCall(BaseModel):
    """One model call a strategy made: which model, what was sent, what came back, and whether it was replayed.

    A strategy's [`Answer`][tunewise.Answer] lists its calls in order in ``Answer.calls``, so
    whoever prices or stores the answer reads each call's facts from the call itself.
    """

    model_config = ConfigDict(frozen=True)

    model_ref: str
    """The reference the strategy called, such as ``"openai:gpt-4o-mini"`` (what prices are looked up by)."""
    request: ChatRequest
    response: ChatResponse
    cache_key: str | None = None
    """The response cache's key for this call, when a cache was in use."""
    cached: bool = False
    """True when the response was replayed from a cache rather than sent."""
    cost: float | None = None
    """For a replayed call: the dollars it cost when first sent (``None`` when unknown). Fresh calls are priced by
    whoever runs the strategy."""

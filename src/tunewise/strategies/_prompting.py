"""Prompting strategies that need no retrieval: zero-shot, system prompt, chain of thought, fine-tuned."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunewise._types import Message, as_messages
from tunewise.interfaces.strategy import Answer
from tunewise.strategies._call import ModelCaller, Recorder
from tunewise.strategies._fingerprint import attribute_settings, fingerprint_of

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._refs import ModelRef
    from tunewise._registry import Registry

Conversation = str | Sequence[Message | dict[str, Any]]


def with_system(system: str | None, conversation: Sequence[Message]) -> tuple[Message, ...]:
    """``system`` placed first; the conversation's own system messages follow it unchanged."""
    if not system:
        return tuple(conversation)
    return (Message.system(system), *conversation)


class ZeroShot:
    """The conversation as it is, to one model: the baseline every other strategy is measured against."""

    kind = "zero_shot"
    streams_answer = True
    """The answer's text is the text of the model call, so it can be streamed as it is written."""
    batchable = True
    """One model call per answer, after the local steps and depending on no other answer: it can wait in a batch
    (see `tunewise.interfaces.batch`). A subclass that makes dependent calls sets it to ``False``."""

    def __init__(
        self,
        model: Model | str | ModelRef,
        *,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        self.caller = ModelCaller(model, registry, options)
        self.name = name or f"{self.kind}:{self.caller.ref}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def messages(self, conversation: Sequence[Message]) -> tuple[Message, ...]:
        return tuple(conversation)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this strategy in a run id: its class and `fingerprint_fields()`, as JSON.

        Declared, not derived from attributes, so renaming an attribute keeps run ids (and resume).
        A subclass defined outside tunewise also counts the public attributes it adds.
        """
        fields = self.fingerprint_fields()
        if not type(self).__module__.startswith("tunewise."):
            extra = attribute_settings(self)
            extra.pop("class")
            fields = {**extra, **fields}
        return fingerprint_of(self, fields)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The settings that make this strategy answer the way it does; a subclass adds its own."""
        return {"caller": self.caller, "name": self.name}

    async def respond(self, conversation: Conversation) -> Answer:
        recorder = Recorder()
        await recorder.call(self.caller, self.messages(as_messages(conversation)))
        return recorder.answer(self.name)


class _WithSystem(ZeroShot):
    """A zero-shot strategy whose conversations start with ``system`` (when it has one)."""

    system: str | None

    def messages(self, conversation: Sequence[Message]) -> tuple[Message, ...]:
        return with_system(self.system, conversation)

    def fingerprint_fields(self) -> dict[str, Any]:
        return {**super().fingerprint_fields(), "system": self.system}


class SystemPrompt(_WithSystem):
    """A fixed system prompt placed before the conversation ("prompt harder")."""

    kind = "system_prompt"
    system: str

    def __init__(
        self,
        model: Model | str | ModelRef,
        system: str,
        *,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        if not system.strip():
            raise ValueError("SystemPrompt needs a non-empty system prompt")
        super().__init__(model, name=name, registry=registry, **options)
        self.system = system


class FineTuned(_WithSystem):
    """A fine-tuned model (``openai:ft:...``, ``local:base+adapter``), optionally with its training system prompt.

    A fine-tuned model answers best when prompted as in training.
    """

    kind = "fine_tuned"

    def __init__(
        self,
        model: Model | str | ModelRef,
        *,
        system: str | None = None,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, name=name, registry=registry, **options)
        self.system = system


DEFAULT_COT_INSTRUCTION = (
    "Think through the problem step by step. When you are done, write the final answer alone "
    "on a last line that starts with 'Answer:'."
)
DEFAULT_ANSWER_PATTERN = r"(?im)^\W*(?:final\s+)?answer\s*[:\uff1a]\s*(?P<answer>.+?)\s*$"


def extract_answer(text: str, pattern: str | re.Pattern[str] = DEFAULT_ANSWER_PATTERN) -> tuple[str, bool]:
    """The answer inside a chain-of-thought text, and whether the pattern found it.

    The last match wins (models often restate). The pattern's ``answer`` group is used
    if it has one, else its first group, else the whole match. Without a match, the
    last non-empty line is the answer and the flag is ``False``.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    matches = list(regex.finditer(text))
    if matches:
        match = matches[-1]
        if "answer" in regex.groupindex:
            return match.group("answer").strip(), True
        return (match.group(1) if regex.groups else match.group(0)).strip(), True
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else ""), False


class ChainOfThought(ZeroShot):
    """Asks the model to reason first, then extracts the final answer.

    ``Answer.text`` is the extracted answer (what metrics score); the full reasoning is in
    ``Answer.metadata["reasoning"]`` and ``Answer.responses[0].text``, and
    ``metadata["extracted"]`` says whether the pattern matched or the last line was used.
    """

    kind = "chain_of_thought"
    streams_answer = False  # the answer is extracted from the reasoning once it is complete

    def __init__(
        self,
        model: Model | str | ModelRef,
        *,
        instruction: str = DEFAULT_COT_INSTRUCTION,
        answer_pattern: str = DEFAULT_ANSWER_PATTERN,
        system: str | None = None,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, name=name, registry=registry, **options)
        self.instruction = instruction
        self.system = system
        self.answer_pattern = re.compile(answer_pattern)

    def messages(self, conversation: Sequence[Message]) -> tuple[Message, ...]:
        system = "\n\n".join(part for part in (self.system, self.instruction) if part)
        return with_system(system, conversation)

    def fingerprint_fields(self) -> dict[str, Any]:
        fields = {"instruction": self.instruction, "system": self.system, "answer_pattern": self.answer_pattern}
        return {**super().fingerprint_fields(), **fields}

    async def respond(self, conversation: Conversation) -> Answer:
        recorder = Recorder()
        raw = await recorder.call(self.caller, self.messages(as_messages(conversation)))
        answer, found = extract_answer(raw.text, self.answer_pattern)
        return recorder.answer(
            self.name,
            response=raw.model_copy(update={"text": answer}),
            metadata={"reasoning": raw.text, "extracted": found},
        )

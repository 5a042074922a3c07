"""Retrieval-augmented strategies: RAG with cited sources, and RAG feeding a fine-tuned model."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from tunewise._types import Message, as_messages
from tunewise.interfaces.retriever import Hit, Retriever
from tunewise.interfaces.strategy import Answer
from tunewise.strategies._call import Recorder, last_user_text, no_call_response
from tunewise.strategies._prompting import Conversation, ZeroShot, with_system

if TYPE_CHECKING:
    from tunewise._model import Model
    from tunewise._refs import ModelRef
    from tunewise._registry import Registry

DEFAULT_RAG_SYSTEM = (
    "Answer the question using only the numbered sources below. Cite the sources you use "
    "as [1], [2]. If the sources do not contain the answer, say that you do not know."
)
DEFAULT_TEMPLATE = "Sources:\n{context}\n\nQuestion: {question}"
DEFAULT_SOURCE_FORMAT = "[{n}] ({source}) {document}"
DEFAULT_HANDOFF = "I could not find this in our documentation; a member of our team will follow up."

_CITATION = re.compile(r"\[(\d+)\]")
DENSE = "dense"
"""The member name of ``tunewise.retrieval``'s dense retriever, whose cosine ``threshold`` compares by default."""


def format_context(hits: Sequence[Hit], source_format: str = DEFAULT_SOURCE_FORMAT) -> str:
    """The numbered sources block; ``[n]`` is the hit's position, so citations map back to hits."""
    return "\n".join(
        source_format.format(n=n, source=hit.source, document=hit.document.strip(), id=hit.id)
        for n, hit in enumerate(hits, 1)
    )


def cited_sources(text: str, hits: Sequence[Hit]) -> list[str]:
    """The sources an answer cites as ``[n]``, in first-cited order; out-of-range numbers are ignored."""
    seen: list[str] = []
    for number in _CITATION.findall(text):
        index = int(number) - 1
        if 0 <= index < len(hits) and hits[index].source not in seen:
            seen.append(hits[index].source)
    return seen


def relevance_score(hit: Hit, member: str | None) -> float | None:
    """The score a relevance threshold compares.

    ``member``'s raw score (``None`` if it did not find the hit), or ``hit.score`` when no member is named.
    """
    return hit.score if member is None else hit.scores.get(member)


def member_names(retriever: Retriever) -> list[str] | None:
    """The names a retriever's hits carry in ``Hit.scores``, where they can be known in advance."""
    members = getattr(retriever, "retrievers", None)
    if isinstance(members, list) and all(isinstance(getattr(m, "name", None), str) for m in members):
        return [m.name for m in members]
    from tunewise.retrieval import BM25Retriever, DenseRetriever

    return [retriever.name] if isinstance(retriever, DenseRetriever | BM25Retriever) else None


class RAG(ZeroShot):
    """Retrieve passages for the last user message and ask the model to answer from them, citing ``[n]``.

    The last user message is replaced by ``template`` filled with ``{context}`` (numbered
    sources) and ``{question}``; earlier turns are kept. ``Answer.hits`` holds what was
    retrieved and ``metadata["cited"]`` the sources the answer cites.
    """

    kind = "rag"

    def __init__(
        self,
        model: Model | str | ModelRef,
        retriever: Retriever,
        *,
        k: int = 4,
        template: str = DEFAULT_TEMPLATE,
        system: str | None = DEFAULT_RAG_SYSTEM,
        source_format: str = DEFAULT_SOURCE_FORMAT,
        where: Mapping[str, Any] | None = None,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, name=name, registry=registry, **options)
        if "{context}" not in template or "{question}" not in template:
            raise ValueError("a RAG template needs both {context} and {question}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.retriever = retriever
        self.k = k
        self.template = template
        self.system = system
        self.source_format = source_format
        self.where = dict(where) if where else None

    def fingerprint_fields(self) -> dict[str, Any]:
        fields = {
            "retriever": self.retriever,
            "k": self.k,
            "template": self.template,
            "system": self.system,
            "source_format": self.source_format,
            "where": self.where,
        }
        return {**super().fingerprint_fields(), **fields}

    async def retrieve(self, conversation: Sequence[Message]) -> list[Hit]:
        return await self.retriever.retrieve(last_user_text(conversation), k=self.k, where=self.where)

    def grounded_messages(self, conversation: Sequence[Message], hits: Sequence[Hit]) -> tuple[Message, ...]:
        """The conversation with its last user message wrapped in the template."""
        last = max(i for i, m in enumerate(conversation) if m.role == "user")
        question = conversation[last].content or ""
        prompt = self.template.format(context=format_context(hits, self.source_format), question=question)
        messages = (*conversation[:last], Message.user(prompt), *conversation[last + 1 :])
        return with_system(self.system, messages)

    async def respond(self, conversation: Conversation) -> Answer:
        messages = as_messages(conversation)
        hits = await self.retrieve(messages)
        recorder = Recorder()
        response = await recorder.call(self.caller, self.grounded_messages(messages, hits))
        return recorder.answer(
            self.name, hits=tuple(hits), metadata={"cited": cited_sources(response.text, hits), "grounded": True}
        )


class RagFineTuned(RAG):
    """The support-bot hybrid: retrieval feeding a fine-tuned model, with a rule for irrelevant retrieval.

    A hit is relevant when its score reaches ``threshold``. The score compared is the raw
    score of the member retriever ``threshold_on`` names (``Hit.scores``; a hit that member
    did not find is not relevant). By default that is ``"dense"`` (a cosine similarity)
    when the hits carry a dense score, as hybrid hits from ``tunewise.retrieval.Index`` do,
    else ``Hit.score``. A fused hybrid score is no test of relevance: it is rescaled per
    query, so the best hit of any query scores high. When no hit is relevant,
    ``on_low_relevance`` decides:

    - ``"no_context"``: answer with the fine-tuned model alone (its ``system`` prompt, the
      conversation unchanged), trusting what it learned;
    - ``"handoff"``: make no call and return ``Answer.handoff=True`` with ``handoff_message``.

    ``metadata["relevance"]`` is ``"high"`` or ``"low"``, ``metadata["best_score"]`` the best
    score compared and ``metadata["threshold_on"]`` the member it came from (``None``: ``Hit.score``).
    """

    kind = "rag_fine_tuned"

    def __init__(
        self,
        model: Model | str | ModelRef,
        retriever: Retriever,
        *,
        threshold: float,
        threshold_on: str | None = None,
        on_low_relevance: Literal["no_context", "handoff"] = "no_context",
        handoff_message: str = DEFAULT_HANDOFF,
        system: str | None = None,
        rag_system: str | None = DEFAULT_RAG_SYSTEM,
        k: int = 4,
        template: str = DEFAULT_TEMPLATE,
        source_format: str = DEFAULT_SOURCE_FORMAT,
        where: Mapping[str, Any] | None = None,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        if on_low_relevance not in ("no_context", "handoff"):
            raise ValueError(f"on_low_relevance must be 'no_context' or 'handoff', got {on_low_relevance!r}")
        members = member_names(retriever)
        if threshold_on is not None and members is not None and threshold_on not in members:
            raise ValueError(
                f"threshold_on={threshold_on!r} is not a retriever of {retriever.name!r}; "
                f"use one of {', '.join(repr(m) for m in members)}"
            )
        if threshold_on is None and members is not None and len(members) > 1 and DENSE not in members:
            logging.getLogger("tunewise.strategies").warning(
                "threshold %s is compared with the fused scores of %r, which are rescaled per query; "
                "set threshold_on to one of %s",
                threshold,
                retriever.name,
                ", ".join(members),
            )
        combined = "\n\n".join(p for p in (system, rag_system) if p) or None
        super().__init__(
            model,
            retriever,
            k=k,
            template=template,
            system=combined,
            source_format=source_format,
            where=where,
            name=name,
            registry=registry,
            **options,
        )
        self.threshold = threshold
        self.threshold_on = threshold_on
        self.on_low_relevance = on_low_relevance
        self.handoff_message = handoff_message
        self.plain_system = system

    def fingerprint_fields(self) -> dict[str, Any]:
        fields = {
            "threshold": self.threshold,
            "threshold_on": self.threshold_on,
            "on_low_relevance": self.on_low_relevance,
            "handoff_message": self.handoff_message,
            "plain_system": self.plain_system,
        }
        return {**super().fingerprint_fields(), **fields}

    async def respond(self, conversation: Conversation) -> Answer:
        messages = as_messages(conversation)
        hits = await self.retrieve(messages)
        member = self.threshold_on
        if member is None and any(DENSE in h.scores for h in hits):
            member = DENSE
        scored = [(h, relevance_score(h, member)) for h in hits]
        best = max((score for _, score in scored if score is not None), default=None)
        relevant = [h for h, score in scored if score is not None and score >= self.threshold]
        info: dict[str, Any] = {"best_score": best, "threshold": self.threshold, "threshold_on": member}
        recorder = Recorder()
        if relevant:
            response = await recorder.call(self.caller, self.grounded_messages(messages, relevant))
            info.update(relevance="high", grounded=True, cited=cited_sources(response.text, relevant))
            return recorder.answer(self.name, hits=tuple(hits), metadata=info)
        info["relevance"] = "low"
        if self.on_low_relevance == "handoff":
            response = no_call_response(self.handoff_message, self.caller.ref.model)
            return recorder.answer(self.name, response=response, hits=tuple(hits), handoff=True, metadata=info)
        await recorder.call(self.caller, with_system(self.plain_system, messages))
        info["grounded"] = False
        return recorder.answer(self.name, hits=tuple(hits), metadata=info)

"""Few-shot prompting: fixed examples, or examples picked per query by embedding similarity with MMR."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import numpy as np

from tunewise._types import Message, as_messages
from tunewise.interfaces.strategy import Answer
from tunewise.strategies._call import Recorder, last_user_text
from tunewise.strategies._prompting import Conversation, ZeroShot, with_system

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from tunewise._model import Model
    from tunewise._refs import ModelRef
    from tunewise._registry import Registry
    from tunewise.interfaces.embedder import Embedder


@dataclass(frozen=True)
class Example:
    """One demonstration: the turns shown to the model, and the text used to match queries against it."""

    messages: tuple[Message, ...]
    key: str

    @classmethod
    def of(cls, example: Example | Mapping[str, Any] | tuple[str, str]) -> Example:
        """Accept ``Example``, ``(input, output)``, ``{"input", "output"}`` or ``{"messages": [...]}``."""
        if isinstance(example, Example):
            return example
        if isinstance(example, tuple):
            question, answer = example
            return cls((Message.user(question), Message.assistant(answer)), question)
        if "messages" in example:
            messages = as_messages(example["messages"])
            users = [m.content for m in messages if m.role == "user" and m.content]
            if not users or messages[-1].role != "assistant":
                raise ValueError("an example conversation needs a user message and must end with the assistant")
            return cls(messages, users[0])
        try:
            question, answer = str(example["input"]), str(example["output"])
        except KeyError as exc:
            raise ValueError(f"an example needs 'input' and 'output' (or 'messages'); missing {exc}") from None
        return cls((Message.user(question), Message.assistant(answer)), question)


def mmr_select(query: NDArray[np.float64], candidates: NDArray[np.float64], k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: ``k`` candidate indices, most relevant first.

    Each pick maximises ``(1 - diversity) * sim(query, c) - diversity * max sim(c, picked)``
    with cosine similarity; ``diversity=0`` is plain top-k by similarity.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"diversity must be between 0 and 1, got {diversity}")
    k = min(k, len(candidates))
    if k <= 0:
        return []
    q = query / (np.linalg.norm(query) or 1.0)
    norms = np.linalg.norm(candidates, axis=1, keepdims=True)
    c = candidates / np.where(norms == 0, 1.0, norms)
    relevance = c @ q
    pairwise = c @ c.T
    picked: list[int] = [int(np.argmax(relevance))]
    redundancy = pairwise[picked[0]].copy()
    while len(picked) < k:
        score = (1.0 - diversity) * relevance - diversity * redundancy
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        redundancy = np.maximum(redundancy, pairwise[best])
    return picked


class FewShot(ZeroShot):
    """Demonstrations before the conversation, as user/assistant turns.

    With ``embedder`` and ``k``, the ``k`` examples shown are picked for each query by
    similarity of the query's last user message to each example's input, with MMR
    ``diversity`` so near-duplicates are not all shown; the most similar goes last,
    nearest to the question. Without an embedder, the first ``k`` (default: all) are used.
    """

    kind = "few_shot"

    def __init__(
        self,
        model: Model | str | ModelRef,
        examples: Sequence[Example | Mapping[str, Any] | tuple[str, str]],
        *,
        k: int | None = None,
        embedder: Embedder | None = None,
        diversity: float = 0.3,
        system: str | None = None,
        name: str | None = None,
        registry: Registry | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model, name=name, registry=registry, **options)
        self.examples = [Example.of(e) for e in examples]
        if not self.examples:
            raise ValueError("FewShot needs at least one example")
        if k is not None and k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if embedder is not None and k is None:
            raise ValueError("FewShot with an embedder needs k (how many examples to pick per query)")
        self.k = k
        self.embedder = embedder
        self.diversity = diversity
        self.system = system
        self._vectors: NDArray[np.float64] | None = None
        self._lock = anyio.Lock()

    def fingerprint_fields(self) -> dict[str, Any]:
        fields = {
            "examples": self.examples,
            "k": self.k,
            "embedder": self.embedder,
            "diversity": self.diversity,
            "system": self.system,
        }
        return {**super().fingerprint_fields(), **fields}

    async def _example_vectors(self, embedder: Embedder) -> NDArray[np.float64]:
        async with self._lock:
            if self._vectors is None:
                vectors = await embedder.embed([e.key for e in self.examples])
                self._vectors = np.asarray(vectors, dtype=np.float64)
        return self._vectors

    async def select(self, conversation: Sequence[Message]) -> list[Example]:
        """The examples shown for this conversation, in prompt order."""
        if self.embedder is None:
            return self.examples[: self.k] if self.k else list(self.examples)
        assert self.k is not None
        vectors = await self._example_vectors(self.embedder)
        (query,) = await self.embedder.embed([last_user_text(conversation)])
        order = mmr_select(np.asarray(query, dtype=np.float64), vectors, self.k, self.diversity)
        return [self.examples[i] for i in reversed(order)]

    async def respond(self, conversation: Conversation) -> Answer:
        messages = as_messages(conversation)
        chosen = await self.select(messages)
        shots = [m for example in chosen for m in example.messages]
        lead = 0
        while lead < len(messages) and messages[lead].role in ("system", "developer"):
            lead += 1
        recorder = Recorder()
        prompt = (*messages[:lead], *shots, *messages[lead:])
        await recorder.call(self.caller, with_system(self.system, prompt))
        return recorder.answer(self.name, metadata={"examples": [e.key for e in chosen]})

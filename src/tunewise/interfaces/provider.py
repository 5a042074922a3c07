"""``Provider``: where chat completions come from (OpenAI, a local model, your own)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from tunewise._errors import CapabilityError
from tunewise._plugin_spec import LocalModels as LocalModels
from tunewise._plugin_spec import ProviderPlugin as ProviderPlugin
from tunewise._types import ChatChunk, ChatRequest, ChatResponse

if TYPE_CHECKING:
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.finetune import FineTuner

Capability = Literal["chat", "stream", "embed", "fine_tune", "structured_output"]
"""What a provider can do. ``structured_output`` means it enforces a JSON schema itself."""


@runtime_checkable
class Provider(Protocol):
    """One configured connection to a model host; serves any model it knows by name."""

    name: str
    capabilities: frozenset[Capability]

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Complete one conversation."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Stream the answer; the last chunk carries ``finish_reason`` and usage."""
        ...

    def embedder(self, model: str) -> Embedder:
        """An [`Embedder`][tunewise.Embedder] for ``model`` (needs the ``embed`` capability)."""
        ...

    def fine_tuner(self) -> FineTuner:
        """This provider's [`FineTuner`][tunewise.FineTuner] (needs the ``fine_tune`` capability)."""
        ...

    async def aclose(self) -> None:
        """Release connections, models, threads."""
        ...


class BaseProvider:
    """Optional base class: declines the optional capabilities with a clear error."""

    name: str = "provider"
    capabilities: frozenset[Capability] = frozenset({"chat", "stream"})

    def embedder(self, model: str) -> Embedder:
        """Raise [`CapabilityError`][tunewise.CapabilityError]: override it in a provider that can embed."""
        raise CapabilityError(f"{self.name}: this provider cannot embed (no 'embed' capability)")

    def fine_tuner(self) -> FineTuner:
        """Raise [`CapabilityError`][tunewise.CapabilityError]: override it in a provider that can fine-tune."""
        raise CapabilityError(f"{self.name}: this provider cannot fine-tune (no 'fine_tune' capability)")

    async def aclose(self) -> None:
        """Nothing to release; override it in a provider that holds connections, models or threads."""
        return None

    def __repr__(self) -> str:
        """``<ClassName 'name'>``: the class and the provider's name, nothing from its settings."""
        return f"<{type(self).__name__} {self.name!r}>"

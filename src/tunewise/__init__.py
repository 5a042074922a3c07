"""tunewise: prompt harder, or fine-tune? Measure it, then do both.

This module is the whole public API. Names are re-exported from private modules and
loaded on first access (PEP 562), so ``import tunewise`` costs a few milliseconds and
never imports pydantic, httpx, torch, chromadb or any plugin until they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise._lazy import lazy_getattr
from tunewise._registry import PluginInfo, providers
from tunewise._version import __version__

if TYPE_CHECKING:
    from tunewise._errors import (
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        CapabilityError,
        ConfigError,
        DataError,
        FineTuneError,
        MissingAPIKeyError,
        ModelRefError,
        NotFoundError,
        PluginNotFoundError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeoutError,
        RateLimitError,
        ServerError,
        StreamInterruptedError,
        StructuredOutputError,
        TunewiseError,
    )
    from tunewise._model import Model
    from tunewise._refs import ModelRef
    from tunewise._registry import Registry, load_plugin
    from tunewise._settings import ProfileConfig, ProviderConfig, Settings, load_settings
    from tunewise._types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        FunctionCall,
        Message,
        ResponseFormat,
        ToolCall,
        ToolCallDelta,
        Usage,
    )
    from tunewise.interfaces.embedder import Embedder
    from tunewise.interfaces.finetune import FineTuneEvent, FineTuneJob, FineTuner, FineTuneSpec, FineTuneStatus
    from tunewise.interfaces.provider import BaseProvider, Capability, Provider, ProviderPlugin
    from tunewise.interfaces.retriever import Hit, Retriever
    from tunewise.interfaces.strategy import Answer, Strategy

_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "AuthenticationError",
            "BadRequestError",
            "BudgetExceededError",
            "CapabilityError",
            "ConfigError",
            "DataError",
            "FineTuneError",
            "MissingAPIKeyError",
            "ModelRefError",
            "NotFoundError",
            "PluginNotFoundError",
            "ProviderConnectionError",
            "ProviderError",
            "ProviderTimeoutError",
            "RateLimitError",
            "ServerError",
            "StreamInterruptedError",
            "StructuredOutputError",
            "TunewiseError",
        ],
        "tunewise._errors",
    ),
    "Model": "tunewise._model",
    "ModelRef": "tunewise._refs",
    "Registry": "tunewise._registry",
    "load_plugin": "tunewise._registry",
    **dict.fromkeys(["ProfileConfig", "ProviderConfig", "Settings", "load_settings"], "tunewise._settings"),
    **dict.fromkeys(
        [
            "ChatChunk",
            "ChatRequest",
            "ChatResponse",
            "FunctionCall",
            "Message",
            "ResponseFormat",
            "ToolCall",
            "ToolCallDelta",
            "Usage",
        ],
        "tunewise._types",
    ),
    "Embedder": "tunewise.interfaces.embedder",
    **dict.fromkeys(
        ["FineTuneEvent", "FineTuneJob", "FineTuner", "FineTuneSpec", "FineTuneStatus"],
        "tunewise.interfaces.finetune",
    ),
    **dict.fromkeys(["BaseProvider", "Capability", "Provider", "ProviderPlugin"], "tunewise.interfaces.provider"),
    **dict.fromkeys(["Hit", "Retriever"], "tunewise.interfaces.retriever"),
    **dict.fromkeys(["Answer", "Strategy"], "tunewise.interfaces.strategy"),
}

__all__ = [
    "Answer",
    "AuthenticationError",
    "BadRequestError",
    "BaseProvider",
    "BudgetExceededError",
    "Capability",
    "CapabilityError",
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "ConfigError",
    "DataError",
    "Embedder",
    "FineTuneError",
    "FineTuneEvent",
    "FineTuneJob",
    "FineTuneSpec",
    "FineTuneStatus",
    "FineTuner",
    "FunctionCall",
    "Hit",
    "Message",
    "MissingAPIKeyError",
    "Model",
    "ModelRef",
    "ModelRefError",
    "NotFoundError",
    "PluginInfo",
    "PluginNotFoundError",
    "ProfileConfig",
    "Provider",
    "ProviderConfig",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderPlugin",
    "ProviderTimeoutError",
    "RateLimitError",
    "Registry",
    "ResponseFormat",
    "Retriever",
    "ServerError",
    "Settings",
    "Strategy",
    "StreamInterruptedError",
    "StructuredOutputError",
    "ToolCall",
    "ToolCallDelta",
    "TunewiseError",
    "Usage",
    "load_plugin",
    "load_settings",
    "model",
    "providers",
    "__version__",
]

_default_registry: Registry | None = None


def model(ref: str | ModelRef) -> Model:
    """A :class:`Model` for a reference such as ``"openai:gpt-4o-mini"``.

    Providers are created once per prefix in a process-wide :class:`Registry`; use your
    own ``Registry`` to control their lifetime (tests, several event loops).
    """
    global _default_registry
    if _default_registry is None:
        from tunewise._registry import Registry

        _default_registry = Registry()
    return _default_registry.model(ref)


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__

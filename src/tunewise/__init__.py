"""tunewise: prompt harder, or fine-tune? Measure it, then do both.

This module is the whole public API. Names are re-exported from private modules and
loaded on first access (PEP 562), so ``import tunewise`` costs a few milliseconds and
never imports pydantic, httpx, torch, chromadb or any plugin until they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunewise._lazy import lazy_getattr
from tunewise._registry import PluginInfo, providers
from tunewise._version import __version__

if TYPE_CHECKING:
    from pydantic import SecretStr

    from tunewise._errors import (
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        CapabilityError,
        ConfigError,
        ConversationError,
        DataError,
        FineTuneError,
        MissingAPIKeyError,
        ModelRefError,
        NotFoundError,
        OptionError,
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
    from tunewise._sync import SyncModel, SyncStream
    from tunewise._types import (
        ChatChunk,
        ChatRequest,
        ChatResponse,
        FunctionCall,
        Message,
        ModelCall,
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
            "ConversationError",
            "DataError",
            "FineTuneError",
            "MissingAPIKeyError",
            "ModelRefError",
            "NotFoundError",
            "OptionError",
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
    "SyncModel": "tunewise._sync",
    "SyncStream": "tunewise._sync",
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
            "ModelCall",
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
    "ConversationError",
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
    "ModelCall",
    "ModelRef",
    "ModelRefError",
    "NotFoundError",
    "OptionError",
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
    "SyncModel",
    "SyncStream",
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
_default_key: str | None = None
"""What the default registry's settings were read from (`tunewise._settings.settings_key`)."""


def model(
    ref: str | ModelRef,
    /,
    *,
    base_url: str | None = None,
    api_key: str | SecretStr | None = None,
    **options: Any,
) -> Model:
    """A [`Model`][tunewise.Model] for a reference such as ``"openai:gpt-4o-mini"``.

    Without arguments the model shares its prefix's provider, created once per process
    (the settings say where and with which key) and again when the settings change: a
    ``TUNEWISE_*`` or ``*_API_KEY`` variable, the working folder or a settings file.
    ``base_url``, ``api_key`` and provider options (``timeout=30``, ``max_retries=2``...; a misspelt one is an
    [`OptionError`][tunewise.OptionError]) give the model a provider of its own, closed with it. The model
    works from any event loop; ``model.sync`` calls it without ``await``; close it with
    ``await model.aclose()`` or ``async with``.
    """
    global _default_registry, _default_key
    from tunewise._settings import settings_key

    key = settings_key()
    if _default_registry is None or key != _default_key:  # settings changed (env, files): read them again
        from tunewise._registry import Registry

        _default_registry, _default_key = Registry(), key
    return _default_registry.model(ref, base_url=base_url, api_key=api_key, **options)


__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__

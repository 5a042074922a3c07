"""The plugin kit: everything a provider plugin needs from tunewise, in one public module.

A plugin (first-party or third-party) imports only ``tunewise`` and ``tunewise.plugin``;
the modules behind these names are private and may move. Importing this module is as
cheap as ``import tunewise``: each name loads its module on first access.

- `ProviderPlugin`: what the plugin's entry point names (how to create the
  provider, its capabilities, the profiles and CLI commands it contributes, and for a
  plugin that runs models on this machine its `LocalModels`);
- `BaseProvider`, `Provider`, `Capability`, `ProviderConfig`,
  `ProfileConfig`, `FinishReason`: the provider's shape and inputs;
- `register_secret`, `redact`, `get_logger`: keeping API keys out of
  messages and logs;
- `config_error`, `did_you_mean`: one-line errors for bad options;
- `lazy_getattr`: a light top-level module whose public names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise._lazy import lazy_getattr

if TYPE_CHECKING:
    from tunewise._config_error import config_error
    from tunewise._secrets import get_logger, redact, register_secret
    from tunewise._settings import ProfileConfig, ProviderConfig
    from tunewise._suggest import did_you_mean
    from tunewise._types import FinishReason
    from tunewise.interfaces.provider import BaseProvider, Capability, LocalModels, Provider, ProviderPlugin

_EXPORTS: dict[str, str] = {
    "BaseProvider": "tunewise.interfaces.provider",
    "Capability": "tunewise.interfaces.provider",
    "LocalModels": "tunewise.interfaces.provider",
    "Provider": "tunewise.interfaces.provider",
    "ProviderPlugin": "tunewise.interfaces.provider",
    "ProfileConfig": "tunewise._settings",
    "ProviderConfig": "tunewise._settings",
    "FinishReason": "tunewise._types",
    "config_error": "tunewise._config_error",
    "did_you_mean": "tunewise._suggest",
    "get_logger": "tunewise._secrets",
    "redact": "tunewise._secrets",
    "register_secret": "tunewise._secrets",
}

__all__ = [
    "BaseProvider",
    "Capability",
    "FinishReason",
    "LocalModels",
    "ProfileConfig",
    "Provider",
    "ProviderConfig",
    "ProviderPlugin",
    "config_error",
    "did_you_mean",
    "get_logger",
    "lazy_getattr",
    "redact",
    "register_secret",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return __all__

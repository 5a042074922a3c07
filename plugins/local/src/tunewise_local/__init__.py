"""tunewise's local plugin: Hugging Face transformers models and LoRA fine-tuning.

This module imports neither torch nor transformers; they load on first use of a
``local:`` model reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise import ProviderPlugin
from tunewise_local._version import __version__

if TYPE_CHECKING:
    from tunewise import Provider, ProviderConfig


def _create(config: ProviderConfig) -> Provider:
    from tunewise import ConfigError

    raise ConfigError(f"tunewise-local {__version__}: the local provider is not built yet")


plugin = ProviderPlugin(
    create=_create,
    capabilities=frozenset({"chat", "stream", "embed", "fine_tune"}),
    description="Hugging Face transformers models on this machine; LoRA / full fine-tuning with peft",
)

__all__ = ["__version__", "plugin"]

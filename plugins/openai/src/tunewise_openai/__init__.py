"""tunewise's OpenAI plugin: the OpenAI API and OpenAI-compatible servers, over httpx.

This module stays light (no httpx import) so that listing plugins is cheap; the
provider is built on first use of an ``openai:`` (or profile) model reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise import ProviderPlugin
from tunewise_openai._version import __version__

if TYPE_CHECKING:
    from tunewise import Provider, ProviderConfig


def _create(config: ProviderConfig) -> Provider:
    from tunewise import ConfigError

    raise ConfigError(f"tunewise-openai {__version__}: the OpenAI provider is not built yet")


plugin = ProviderPlugin(
    create=_create,
    capabilities=frozenset({"chat", "stream", "embed", "fine_tune", "structured_output"}),
    description="OpenAI API and OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio)",
)

__all__ = ["__version__", "plugin"]

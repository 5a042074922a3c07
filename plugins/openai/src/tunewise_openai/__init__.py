"""tunewise's OpenAI plugin: the OpenAI API and OpenAI-compatible servers, over httpx.

This module stays light (no httpx import) so that listing plugins is cheap; the
provider is built on first use of an ``openai:`` (or profile) model reference.

Public names (imported on first access): [`OpenAIProvider`][tunewise_openai.OpenAIProvider],
[`OpenAIOptions`][tunewise_openai.OpenAIOptions], [`OpenAIEmbedder`][tunewise_openai.OpenAIEmbedder],
[`OpenAIFineTuner`][tunewise_openai.OpenAIFineTuner], [`OpenAIFineTuneJob`][tunewise_openai.OpenAIFineTuneJob],
[`Files`][tunewise_openai.Files], [`FileObject`][tunewise_openai.FileObject], [`Batches`][tunewise_openai.Batches],
[`BatchResult`][tunewise_openai.BatchResult].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise import ProviderPlugin
from tunewise.plugin import lazy_getattr
from tunewise_openai._version import __version__

if TYPE_CHECKING:
    from tunewise.plugin import Capability, Provider, ProviderConfig
    from tunewise_openai._batches import Batches, BatchResult
    from tunewise_openai._embeddings import OpenAIEmbedder
    from tunewise_openai._files import FileObject, Files
    from tunewise_openai._finetune import OpenAIFineTuneJob, OpenAIFineTuner
    from tunewise_openai._options import OpenAIOptions
    from tunewise_openai._provider import OpenAIProvider

CAPABILITIES: frozenset[Capability] = frozenset({"chat", "stream", "embed", "fine_tune", "structured_output"})
"""What an OpenAI provider can do: declared here once, read by the plugin and the provider class."""

_EXPORTS = {
    "OpenAIProvider": "tunewise_openai._provider",
    "OpenAIOptions": "tunewise_openai._options",
    "OpenAIEmbedder": "tunewise_openai._embeddings",
    "OpenAIFineTuner": "tunewise_openai._finetune",
    "OpenAIFineTuneJob": "tunewise_openai._finetune",
    "Files": "tunewise_openai._files",
    "FileObject": "tunewise_openai._files",
    "Batches": "tunewise_openai._batches",
    "BatchResult": "tunewise_openai._batches",
}


def _create(config: ProviderConfig) -> Provider:
    from tunewise_openai._provider import OpenAIProvider

    return OpenAIProvider.from_config(config)


def _option_names() -> list[str]:
    from tunewise_openai._options import OpenAIOptions

    return list(OpenAIOptions.model_fields)


PROFILES = {
    "openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"},
    "ollama": {"base_url": "http://localhost:11434/v1"},
    "vllm": {"base_url": "http://localhost:8000/v1"},
    "llamacpp": {"base_url": "http://localhost:8080/v1"},
    "lmstudio": {"base_url": "http://localhost:1234/v1"},
}
"""The built-in profiles this plugin contributes: OpenAI itself, and OpenAI-compatible local servers."""

plugin = ProviderPlugin(
    create=_create,
    capabilities=CAPABILITIES,
    description="OpenAI API and OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio)",
    option_names=_option_names,
    profiles=PROFILES,
)


__getattr__ = lazy_getattr(__name__, _EXPORTS)


__all__ = [
    "CAPABILITIES",
    "BatchResult",
    "Batches",
    "FileObject",
    "Files",
    "OpenAIEmbedder",
    "OpenAIFineTuneJob",
    "OpenAIFineTuner",
    "OpenAIOptions",
    "OpenAIProvider",
    "__version__",
    "plugin",
]

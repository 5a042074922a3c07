"""tunewise's local plugin: Hugging Face transformers models and LoRA fine-tuning.

This module imports neither torch nor transformers; they load on first use of a
``local:`` model reference. The public names below are loaded on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise import ProviderPlugin
from tunewise.plugin import lazy_getattr
from tunewise_local._version import __version__

if TYPE_CHECKING:
    import typer

    from tunewise.plugin import Capability, LocalModels, Provider, ProviderConfig
    from tunewise_local._engine import EngineStats
    from tunewise_local._finetune import LocalFineTuneJob, LocalFineTuner
    from tunewise_local._hyper import Hyperparameters
    from tunewise_local._options import LocalOptions
    from tunewise_local._provider import LocalEmbedder, LocalProvider
    from tunewise_local.merge import merge_adapter
    from tunewise_local.tiny import build_tiny_model

CAPABILITIES: frozenset[Capability] = frozenset({"chat", "stream", "embed", "fine_tune"})
"""What a local provider can do: declared here once, read by the plugin and the provider class."""


def _create(config: ProviderConfig) -> Provider:
    import os

    # Before torch loads (if it has not yet): OpenMP threads that sleep while waiting, not spin, so two
    # threads on a busy CPU do not slow each other down (see tunewise.cli._app.main). A user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from tunewise_local._provider import LocalProvider

    return LocalProvider.from_config(config)


def _option_names() -> frozenset[str]:
    from tunewise_local._options import OPTION_NAMES

    return OPTION_NAMES


def _commands() -> typer.Typer:
    from tunewise_local._cli import local_app

    return local_app


def _local_models() -> LocalModels:
    from tunewise.plugin import LocalModels
    from tunewise_local._devices import cpu_has_bf16
    from tunewise_local._resolve import resolve_model_dir
    from tunewise_local.tiny import build_tiny_model

    return LocalModels(build_tiny_model=build_tiny_model, model_dir=resolve_model_dir, cpu_has_bf16=cpu_has_bf16)


plugin = ProviderPlugin(
    create=_create,
    capabilities=CAPABILITIES,
    description="Hugging Face transformers models on this machine; LoRA / full fine-tuning with peft",
    option_names=_option_names,
    commands=_commands,
    local_models=_local_models,
)

_EXPORTS = {
    "EngineStats": "tunewise_local._engine",
    "Hyperparameters": "tunewise_local._hyper",
    "LocalEmbedder": "tunewise_local._provider",
    "LocalFineTuneJob": "tunewise_local._finetune",
    "LocalFineTuner": "tunewise_local._finetune",
    "LocalOptions": "tunewise_local._options",
    "LocalProvider": "tunewise_local._provider",
    "build_tiny_model": "tunewise_local.tiny",
    "merge_adapter": "tunewise_local.merge",
}

__all__ = [
    "CAPABILITIES",
    "EngineStats",
    "Hyperparameters",
    "LocalEmbedder",
    "LocalFineTuneJob",
    "LocalFineTuner",
    "LocalOptions",
    "LocalProvider",
    "__version__",
    "build_tiny_model",
    "merge_adapter",
    "plugin",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)

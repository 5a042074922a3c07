"""``ProviderPlugin``: what a plugin's entry point names.

Standard library only, so plugin discovery (``tunewise._discovery``) and settings can check and
read plugins from below the interfaces layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import typer

    from tunewise._settings import ProviderConfig
    from tunewise.interfaces.provider import Capability, Provider


@dataclass(frozen=True)
class LocalModels:
    """What a plugin that runs models on this machine offers besides its provider.

    ``tunewise demo`` builds, prepares and serves its model with these, through
    ``ProviderPlugin.local_models``, so the core needs no import of the plugin.
    """

    build_tiny_model: Callable[..., Path]
    """``build_tiny_model(directory, texts, *, vocab_size, hidden_size, num_layers, num_heads,
    max_position_embeddings, seed)``: write a tiny chat model to ``directory`` and return its path."""
    model_dir: Callable[[str, Path], Path]
    """``model_dir(name, home)``: the model folder a model name stands for, prepared (a packaged or
    GGUF model converted under ``home``) on first use."""
    cpu_has_bf16: Callable[[], bool]
    """Whether this CPU multiplies bfloat16 natively (then ``dtype="bfloat16"`` decodes faster)."""


@dataclass(frozen=True)
class ProviderPlugin:
    """What a plugin's entry point names: how to create its provider, and what it can do.

    ``capabilities`` is declared here so ``tunewise providers`` can list it without
    creating a provider; keep the plugin's top-level module light and import heavy
    libraries inside ``create``. Declare the capabilities once (a module constant) and
    give the provider class the same value: the conformance suite checks that they agree.
    """

    create: Callable[[ProviderConfig], Provider]
    capabilities: frozenset[Capability] = field(default_factory=lambda: frozenset({"chat", "stream"}))
    description: str = ""
    option_names: Callable[[], Iterable[str]] | None = None
    """The option names ``create`` accepts (``profiles.<name>.options``, ``tunewise.model(ref, **options)``),
    called only when needed so the options' module loads late. With it, ``tunewise.model`` names the
    closest option to a misspelt one; without it, the plugin's own check speaks."""
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Profiles the plugin contributes, by name, as ``ProfileConfig`` fields without ``plugin`` (this plugin is
    implied): ``{"openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY"}}``.
    They are built in: a user's profile of the same name changes only the fields it gives."""
    commands: Callable[[], typer.Typer] | None = None
    """The plugin's own CLI commands, as a typer app that ``tunewise <plugin name> ...`` runs. Called only when
    those commands are used or listed, so import typer and the commands' module inside it."""
    local_models: Callable[[], LocalModels] | None = None
    """For a plugin that runs models on this machine: its `LocalModels` (``tunewise demo`` uses the
    ``local`` plugin's). Called only when needed."""

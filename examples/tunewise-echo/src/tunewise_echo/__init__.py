"""tunewise-echo: a complete third-party tunewise provider that answers with your last message.

This is the module the entry point names, so it stays light: ``tunewise providers``
imports it to read ``plugin.capabilities``, and the provider itself (where a real plugin
would import its HTTP client or torch) is imported only when ``echo:...`` is first used.
Likewise its commands (``tunewise echo models``) load only when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunewise import ProviderPlugin

if TYPE_CHECKING:
    import typer

    from tunewise import Capability, Provider, ProviderConfig

__version__ = "0.3.1"

CAPABILITIES: frozenset[Capability] = frozenset({"chat", "stream", "embed"})
"""Declared once: the plugin below and ``EchoProvider.capabilities`` both use it."""


def _create(config: ProviderConfig) -> Provider:
    from tunewise_echo._provider import EchoProvider

    return EchoProvider.from_config(config)


def _commands() -> typer.Typer:
    from tunewise_echo._cli import app

    return app


plugin = ProviderPlugin(
    create=_create,
    capabilities=CAPABILITIES,
    description="Echoes the last user message, one character per token",
    commands=_commands,
)

__all__ = ["CAPABILITIES", "__version__", "plugin"]

"""Provider plugins found by entry point, imported only when their prefix is first used.

A plugin is an ordinary distribution that declares::

    [project.entry-points."tunewise.providers"]
    myhost = "tunewise_myhost:plugin"

Listing plugins reads installed metadata only, so it costs milliseconds however many
plugins are installed; ``tunewise_myhost`` is imported the first time a user writes
``myhost:some-model``.

This module imports nothing but the standard library at module level: ``import
tunewise; tunewise.providers()`` stays cheap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunewise._refs import ModelRef
    from tunewise._settings import Settings
    from tunewise.interfaces.provider import Provider, ProviderPlugin

ENTRY_POINT_GROUP = "tunewise.providers"

_FIRST_PARTY = {"openai": "tunewise-openai", "local": "tunewise-local"}


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """An installed provider plugin, as its metadata describes it (nothing imported)."""

    name: str
    """The prefix it serves (``openai``, ``local``...)."""
    target: str
    """``module:attribute`` the entry point names."""
    distribution: str | None
    version: str | None


def providers() -> list[PluginInfo]:
    """Installed provider plugins, sorted by name, read from metadata without importing them."""
    from importlib import metadata

    found: dict[str, PluginInfo] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        found.setdefault(
            ep.name,
            PluginInfo(
                name=ep.name,
                target=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            ),
        )
    return sorted(found.values(), key=lambda p: p.name)


_plugins: dict[str, ProviderPlugin] = {}
_lock = threading.Lock()


def load_plugin(name: str) -> ProviderPlugin:
    """Import the plugin registered as ``name`` (once) and return its ProviderPlugin."""
    from importlib import metadata

    from tunewise._errors import ConfigError, PluginNotFoundError
    from tunewise.interfaces.provider import ProviderPlugin

    with _lock:
        if name in _plugins:
            return _plugins[name]
        matches = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            raise PluginNotFoundError(_missing_plugin_message(name))
        ep = matches[0]
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not look like a missing one
            raise ConfigError(f"plugin {name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}") from exc
        if not isinstance(plugin, ProviderPlugin):
            raise ConfigError(
                f"plugin {name!r}: entry point {ep.value} must name a tunewise.ProviderPlugin, "
                f"got {type(plugin).__name__}"
            )
        _plugins[name] = plugin
        return plugin


def _missing_plugin_message(name: str, ref: str | None = None) -> str:
    installed = ", ".join(p.name for p in providers()) or "none"
    package = _FIRST_PARTY.get(name, f"a plugin that registers '{name}' (e.g. tunewise-{name})")
    subject = f"model reference {ref!r}" if ref else f"prefix {name!r}"
    return f"no provider plugin for {subject}; installed plugins: {installed}; install {package}"


class Registry:
    """Creates providers for model references and keeps one per prefix until closed.

    Use one per application (or per event loop) and close it at the end::

        async with Registry() as registry:
            answer = await registry.model("openai:gpt-4o-mini").chat("Hello")
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._providers: dict[str, Provider] = {}

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from tunewise._settings import load_settings

            self._settings = load_settings()
        return self._settings

    def provider(self, prefix: str) -> Provider:
        """The provider for a prefix (a plugin name or a named profile), created once."""
        from tunewise._errors import PluginNotFoundError

        if prefix not in self._providers:
            config = self.settings.provider_config(prefix)
            try:
                plugin = load_plugin(config.plugin)
            except PluginNotFoundError:
                if config.plugin == prefix:
                    raise
                raise PluginNotFoundError(
                    f"profile {prefix!r} uses plugin {config.plugin!r}: " + _missing_plugin_message(config.plugin)
                ) from None
            self._providers[prefix] = plugin.create(config)
        return self._providers[prefix]

    def model(self, ref: str | ModelRef) -> Model:
        """A :class:`Model` handle for ``ref`` (``"openai:gpt-4o-mini"``...)."""
        from tunewise._model import Model
        from tunewise._refs import ModelRef

        parsed = ModelRef.parse(ref)
        return Model(parsed, self.provider(parsed.prefix))

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


if TYPE_CHECKING:
    from tunewise._model import Model

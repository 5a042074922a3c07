"""Provider plugins found by entry point, imported only when their prefix is first used.

A plugin is an ordinary distribution that declares::

    [project.entry-points."tunewise.providers"]
    myhost = "tunewise_myhost:plugin"

Listing plugins reads installed metadata only, so it costs milliseconds however many
plugins are installed; ``tunewise_myhost`` is imported the first time a user writes
``myhost:some-model``.

This module imports nothing but the standard library at module level (``import tunewise;
tunewise.providers()`` stays cheap), and sits below settings and the registry: settings read
the profiles plugins contribute, the registry creates their providers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from tunewise._errors import TunewiseError
    from tunewise._plugin_spec import ProviderPlugin

ENTRY_POINT_GROUP = "tunewise.providers"


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

    from tunewise._errors import PluginNotFoundError

    with _lock:
        if name in _plugins:
            return _plugins[name]
        matches = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if not matches:
            raise PluginNotFoundError(missing_plugin_message(name))
        return _load(matches[0])


def load_plugins() -> dict[str, ProviderPlugin | TunewiseError]:
    """Every installed plugin, loaded (once), by name: its ProviderPlugin, or the error that loading it raised.

    One metadata scan for all of them; for what every plugin contributes (profiles, commands).
    """
    from importlib import metadata

    from tunewise._errors import TunewiseError

    loaded: dict[str, ProviderPlugin | TunewiseError] = {}
    with _lock:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if ep.name in loaded:
                continue  # the first of a name serves it, as in load_plugin
            try:
                loaded[ep.name] = _plugins[ep.name] if ep.name in _plugins else _load(ep)
            except TunewiseError as exc:
                loaded[ep.name] = exc
    return loaded


def _load(ep: EntryPoint) -> ProviderPlugin:
    """Import one entry point's plugin and remember it (the caller holds ``_lock``)."""
    from tunewise._errors import ConfigError
    from tunewise._plugin_spec import ProviderPlugin

    try:
        plugin = ep.load()
    except Exception as exc:  # a broken plugin must not look like a missing one
        raise ConfigError(f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}") from exc
    if not isinstance(plugin, ProviderPlugin):
        raise ConfigError(
            f"plugin {ep.name!r}: entry point {ep.value} must name a tunewise.ProviderPlugin, "
            f"got {type(plugin).__name__}"
        )
    _plugins[ep.name] = plugin
    return plugin


def missing_plugin_message(name: str, ref: str | None = None) -> str:
    installed = ", ".join(p.name for p in providers()) or "none"
    package = f"a plugin that registers '{name}' (e.g. tunewise-{name})"
    subject = f"model reference {ref!r}" if ref else f"prefix {name!r}"
    return f"no provider plugin for {subject}; installed plugins: {installed}; install {package}"

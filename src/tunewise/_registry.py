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

import functools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from pydantic import SecretStr

    from tunewise._errors import TunewiseError
    from tunewise._refs import ModelRef
    from tunewise._settings import Settings
    from tunewise.interfaces.provider import Provider, ProviderPlugin

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
            raise PluginNotFoundError(_missing_plugin_message(name))
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
    from tunewise.interfaces.provider import ProviderPlugin

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


def _missing_plugin_message(name: str, ref: str | None = None) -> str:
    installed = ", ".join(p.name for p in providers()) or "none"
    package = f"a plugin that registers '{name}' (e.g. tunewise-{name})"
    subject = f"model reference {ref!r}" if ref else f"prefix {name!r}"
    return f"no provider plugin for {subject}; installed plugins: {installed}; install {package}"


class Registry:
    """Creates providers for model references and keeps one per prefix until closed.

    Use one per application and close it at the end::

        async with Registry() as registry:
            answer = await registry.model("openai:gpt-4o-mini").chat("Hello")

    Providers work from any event loop, so one registry may serve several ``asyncio.run``
    calls. Each :meth:`model` holds its prefix's provider; closing the model gives up the
    hold, and the provider closes when the last hold is given up, unless it was handed
    out by :meth:`provider` (then it lives until the registry closes).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._providers: dict[str, Provider] = {}
        self._holds: dict[str, int] = {}
        self._pinned: set[str] = set()
        self._lock = threading.RLock()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from tunewise._settings import load_settings

            self._settings = load_settings()
        return self._settings

    def provider(self, prefix: str) -> Provider:
        """The provider for a prefix (a plugin name or a named profile), created once; kept until :meth:`aclose`."""
        with self._lock:
            provider = self._shared(prefix)
            self._pinned.add(prefix)
            return provider

    def _shared(self, prefix: str) -> Provider:
        if prefix not in self._providers:
            config = self.settings.provider_config(prefix)
            self._providers[prefix] = _plugin_for(prefix, config.plugin).create(config)
        return self._providers[prefix]

    def model(
        self,
        ref: str | ModelRef,
        /,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        **options: Any,
    ) -> Model:
        """A :class:`Model` for ``ref`` (``"openai:gpt-4o-mini"``...).

        With ``base_url``, ``api_key`` or provider options (``timeout=30``, ``max_retries=2``...),
        the model gets a provider of its own, made from the prefix's profile with these
        changes; it closes with the model. Options are checked against the plugin's options:
        a misspelt one is a one-line :class:`~tunewise.OptionError` naming the closest.
        """
        from tunewise._model import Model
        from tunewise._refs import ModelRef

        parsed = ModelRef.parse(ref)
        if base_url is None and api_key is None and not options:
            with self._lock:
                provider = self._shared(parsed.prefix)
                self._holds[parsed.prefix] = self._holds.get(parsed.prefix, 0) + 1
            release = functools.partial(self._release, parsed.prefix, provider)
            return Model._holding(parsed, provider, release)
        return Model(parsed, self._private(parsed, base_url, api_key, options), owns_provider=True)

    def _private(
        self, ref: ModelRef, base_url: str | None, api_key: str | SecretStr | None, options: dict[str, Any]
    ) -> Provider:
        """A provider for one model: the prefix's profile with ``base_url``, ``api_key`` and ``options`` changed."""
        from pydantic import SecretStr

        from tunewise._errors import ConfigError, OptionError
        from tunewise._secrets import register_secret
        from tunewise._suggest import unknown_name

        where = f"tunewise.model({str(ref)!r})"
        config = self.settings.provider_config(ref.prefix)
        plugin = _plugin_for(ref.prefix, config.plugin)
        if plugin.option_names is not None:
            known = set(plugin.option_names())
            for name in options:
                if name not in known:
                    raise OptionError(f"{where}: " + unknown_name(f"{config.plugin} option", name, known))
        changes: dict[str, Any] = {"options": {**config.options, **options}}
        if base_url is not None:
            changes["base_url"] = _checked_url(base_url, where)
        if api_key is not None:
            key = SecretStr(api_key) if isinstance(api_key, str) else api_key
            key = key if isinstance(key, SecretStr) else None
            if key is None or not key.get_secret_value().strip():
                shown = "an empty string" if key is not None else type(api_key).__name__
                raise OptionError(f"{where}: api_key must be a non-empty string, got {shown}")
            register_secret(key)
            changes["api_key"] = key
        private = config.model_copy(update=changes)
        try:
            return plugin.create(private)
        except OptionError:
            raise
        except ConfigError as exc:
            message = str(exc)
            for name in options:  # an option given here, not in a profile: say so
                message = message.replace(f"profiles.{ref.prefix}.options.{name}", f"option {name}")
            if message == str(exc):
                raise
            raise OptionError(f"{where}: {message}") from None

    async def _release(self, prefix: str, provider: Provider) -> None:
        """Give up one model's hold on a shared provider; close it if that was the last."""
        with self._lock:
            if self._providers.get(prefix) is not provider:
                return  # the registry was closed meanwhile, and the provider with it
            self._holds[prefix] = self._holds.get(prefix, 1) - 1
            if self._holds[prefix] > 0 or prefix in self._pinned:
                return
            del self._providers[prefix], self._holds[prefix]
        await provider.aclose()

    async def aclose(self) -> None:
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
            self._holds.clear()
            self._pinned.clear()
        for provider in providers:
            await provider.aclose()

    async def __aenter__(self) -> Registry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _plugin_for(prefix: str, plugin: str) -> ProviderPlugin:
    """The plugin a prefix's profile names, or a PluginNotFoundError that says which profile asked."""
    from tunewise._errors import PluginNotFoundError

    try:
        return load_plugin(plugin)
    except PluginNotFoundError:
        if plugin == prefix:
            raise
        message = f"profile {prefix!r} uses plugin {plugin!r}: " + _missing_plugin_message(plugin)
        raise PluginNotFoundError(message) from None


def _checked_url(url: object, where: str) -> str:
    from urllib.parse import urlsplit

    from tunewise._errors import OptionError

    if isinstance(url, str) and url.strip() == url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.hostname:
            return url
    raise OptionError(f"{where}: base_url must be an http:// or https:// URL with a host, got {url!r}")


if TYPE_CHECKING:
    from tunewise._model import Model

"""The registry: providers created from plugins (found by `tunewise._discovery`), one per prefix.

This module imports nothing but the standard library and ``tunewise._discovery`` at module
level: ``import tunewise; tunewise.providers()`` stays cheap.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from tunewise._discovery import ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from tunewise._discovery import PluginInfo as PluginInfo
from tunewise._discovery import load_plugin as load_plugin
from tunewise._discovery import load_plugins as load_plugins
from tunewise._discovery import missing_plugin_message
from tunewise._discovery import providers as providers

if TYPE_CHECKING:
    from pydantic import SecretStr

    from tunewise._refs import ModelRef
    from tunewise._settings import Settings
    from tunewise.interfaces.provider import Provider, ProviderPlugin


class Registry:
    """Creates providers for model references and keeps one per prefix until closed.

    Use one per application and close it at the end::

        async with Registry() as registry:
            answer = await registry.model("openai:gpt-4o-mini").chat("Hello")

    Providers work from any event loop, so one registry may serve several ``asyncio.run``
    calls. Each [`model()`][tunewise.Registry.model] holds its prefix's provider; closing the model gives up the
    hold, and the provider closes when the last hold is given up, unless it was handed
    out by [`provider()`][tunewise.Registry.provider] (then it lives until the registry closes).
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
        """The provider for a prefix (a plugin name or a named profile), created once; kept until `aclose()`."""
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
        """A [`Model`][tunewise.Model] for ``ref`` (``"openai:gpt-4o-mini"``...).

        With ``base_url``, ``api_key`` or provider options (``timeout=30``, ``max_retries=2``...),
        the model gets a provider of its own, made from the prefix's profile with these
        changes; it closes with the model. Options are checked against the plugin's options:
        a misspelt one is a one-line [`OptionError`][tunewise.OptionError] naming the closest.
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
        message = f"profile {prefix!r} uses plugin {plugin!r}: " + missing_plugin_message(plugin)
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

"""Settings from environment variables and an optional TOML file (pydantic-settings).

Where settings come from, first match wins:

1. arguments passed to [`Settings`][tunewise.Settings] in code;
2. environment variables: ``TUNEWISE_HOME``, ``TUNEWISE_PROFILES__OLLAMA__BASE_URL``...,
   and the conventional ``OPENAI_API_KEY``;
3. the TOML file named by ``TUNEWISE_CONFIG``, else ``./tunewise.toml``, else
   ``~/.config/tunewise/config.toml``.

API keys are `SecretStr`: they print as ``**********`` in every repr.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tunewise._errors import ConfigError, MissingAPIKeyError, TunewiseError
from tunewise._secrets import register_secret


class ProfileConfig(BaseModel):
    """A named way to reach a provider: which plugin, where, and with which key.

    ``ollama = {plugin = "openai", base_url = "http://localhost:11434/v1"}`` makes
    ``ollama:llama3.2`` talk to Ollama through the OpenAI plugin.
    """

    model_config = ConfigDict(extra="forbid")

    plugin: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    """Environment variable to read the key from when ``api_key`` is not set."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Plugin-specific options (timeouts, rate limits, device...)."""


def builtin_profiles() -> dict[str, ProfileConfig]:
    """Profiles that work out of the box: those the installed plugins contribute (``ProviderPlugin.profiles``).

    Users add or override them in settings. A plugin that fails to import contributes none (using it
    says what is wrong); two plugins offering one name: the first by plugin name wins.
    """
    return {name: profile.model_copy(deep=True) for name, profile in _plugin_profiles().items()}


@functools.cache
def _plugin_profiles() -> dict[str, ProfileConfig]:
    """The installed plugins' profiles, read once per process (like the plugins themselves, loaded once)."""
    from pydantic import ValidationError

    from tunewise._config_error import config_error
    from tunewise._discovery import load_plugins

    found: dict[str, ProfileConfig] = {}
    for plugin_name, plugin in load_plugins().items():
        if isinstance(plugin, TunewiseError):
            continue
        for name, fields in plugin.profiles.items():
            if name in found:
                continue
            try:
                found[name] = ProfileConfig.model_validate({"plugin": plugin_name, **fields})
            except ValidationError as exc:
                raise config_error(exc, f"plugin {plugin_name!r}: profiles.{name}") from None
    return found


class ProviderConfig(BaseModel):
    """What a plugin's ``create`` receives: one resolved profile plus tunewise's home."""

    model_config = ConfigDict(frozen=True)

    name: str
    """The prefix the user typed (``openai``, ``ollama``, ``local``...)."""
    plugin: str
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    home: Path

    def require_api_key(self) -> SecretStr:
        """The API key, or a one-line [`MissingAPIKeyError`][tunewise.MissingAPIKeyError] saying how to set one."""
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key
        where = f"set {self.api_key_env} or " if self.api_key_env else ""
        raise MissingAPIKeyError(
            f"{self.name}: no API key configured; {where}set profiles.{self.name}.api_key in tunewise.toml"
        )


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "tunewise"


def check_home(home: Path) -> Path:
    """``home`` with ``~`` expanded, if it is (or can be made) a writable folder; else a one-line ConfigError.

    Nothing is created here: a typo in ``TUNEWISE_HOME`` must not leave a folder behind. The folder
    is made by whatever first writes to it; this check makes sure that it can.
    """
    raw = os.environ.get("TUNEWISE_HOME")
    source = "TUNEWISE_HOME" if raw is not None and Path(raw) == home else "settings field home"
    if (raw is not None and source == "TUNEWISE_HOME" and not raw.strip()) or not str(home).strip():
        raise ConfigError(f"{source} is empty; unset it or name a folder")
    home = home.expanduser()
    where = f"{source} is {str(home)!r}"
    existing = home
    while not existing.exists() and existing.parent != existing:
        if existing.is_symlink():
            raise ConfigError(f"{where}, but {existing} is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        what = "" if existing == home else f", but {existing} "
        raise ConfigError(f"{where}{what or ', which '}is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "which is" if existing == home else f"and {existing} is"
        raise ConfigError(f"{where}, {what} not writable by this user")
    return home


def config_file_path() -> Path | None:
    """The TOML settings file in use, if any."""
    explicit = os.environ.get("TUNEWISE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"TUNEWISE_CONFIG points to {path}, which is not a file")
        return path
    for candidate in settings_files_searched():
        if candidate.is_file():
            return candidate
    return None


def settings_files_searched() -> tuple[Path, ...]:
    """Where the settings file is looked for without ``TUNEWISE_CONFIG``, first match wins."""
    return Path("tunewise.toml"), Path.home() / ".config" / "tunewise" / "config.toml"


def settings_key() -> str:
    """A digest of everything [`load_settings()`][tunewise.load_settings] reads: equal digests, equal settings.

    The ``TUNEWISE_*`` variables and every ``*_API_KEY`` one (a profile's ``api_key_env``), the working
    folder and the candidate settings files with their modification times. A digest, so that no key
    is kept in the clear.
    """
    import hashlib

    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("TUNEWISE_") or k.endswith("_API_KEY"))
    files: list[tuple[str, int | None] | None] = []
    for candidate in (os.environ.get("TUNEWISE_CONFIG"), *settings_files_searched()):
        try:
            files.append((str(candidate), os.stat(candidate).st_mtime_ns) if candidate else None)
        except OSError:
            files.append((str(candidate), None))
    return hashlib.sha256(repr((env, os.getcwd(), files)).encode()).hexdigest()


class Settings(BaseSettings):
    """All of tunewise's configuration. ``Settings()`` reads env vars and the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="TUNEWISE_",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    home: Path = Field(default_factory=_default_home)
    """Where tunewise keeps run stores, indexes, adapters and job records."""
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("openai_api_key", "TUNEWISE_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Price overrides and additions by model reference, checked by `tunewise.costs`:
    ``[prices."ollama:llama3.2"] input = 0`` (US dollars per 1M tokens)."""
    prices_file: Path | None = None
    """A TOML price file shaped like the shipped one (``[[prices]]`` tables), applied before ``prices``."""

    @field_validator("home", mode="after")
    @classmethod
    def _usable_home(cls, home: Path) -> Path:
        return check_home(home)

    @field_validator("profiles", mode="before")
    @classmethod
    def _complete_builtins(cls, profiles: Any) -> Any:
        """A profile named like a built-in one changes only the fields it gives.

        ``TUNEWISE_PROFILES__OPENAI__BASE_URL=http://proxy/v1`` keeps the ``openai`` plugin and key variable.
        """
        if not isinstance(profiles, dict):
            return profiles
        builtin = builtin_profiles()
        return {
            name: {**builtin[name].model_dump(exclude_defaults=True), **value}
            if name in builtin and isinstance(value, dict)
            else value
            for name, value in profiles.items()
        }

    @field_validator("profiles", mode="after")
    @classmethod
    def _remember_keys(cls, profiles: dict[str, ProfileConfig]) -> dict[str, ProfileConfig]:
        for profile in profiles.values():
            register_secret(profile.api_key)
        return profiles

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file_path()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def all_profiles(self) -> dict[str, ProfileConfig]:
        """Built-in profiles overlaid with the user's."""
        return {**builtin_profiles(), **self.profiles}

    def provider_config(self, prefix: str) -> ProviderConfig:
        """Resolve a model-ref prefix to the config its plugin is created with.

        A prefix with no profile (``local``) is a plugin name used with no options.
        """
        profile = self.all_profiles().get(prefix, ProfileConfig(plugin=prefix))
        key = profile.api_key
        if key is None and profile.api_key_env:
            env_value = os.environ.get(profile.api_key_env)
            if env_value:
                key = SecretStr(env_value)
        if key is None and profile.plugin == "openai" and prefix == "openai":
            key = self.openai_api_key
        register_secret(key)
        return ProviderConfig(
            name=prefix,
            plugin=profile.plugin,
            base_url=profile.base_url,
            api_key=key,
            api_key_env=profile.api_key_env,
            options=dict(profile.options),
            home=self.home,
        )


def load_settings(**overrides: Any) -> Settings:
    """``Settings(**overrides)``, with any problem turned into a one-line ConfigError."""
    from pydantic import ValidationError

    from tunewise._config_error import first_problem

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        field, message, _ = first_problem(exc)
        source = config_file_path()
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}settings field {field}: {message}") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{config_file_path()}: {exc}") from None

"""The ``scripted:`` prefix: a [`ScriptedProvider`][tunewise.testing.ScriptedProvider] reachable by model reference.

Handy in configs and docs (``scripted:echo``): with no options it echoes; a profile can
script it, e.g. ``[profiles.bot] plugin = "scripted"`` with
``options = {replies = ["Hi!"], latency = 0.05}``.
"""

from __future__ import annotations

from tunewise._settings import ProviderConfig
from tunewise.interfaces.provider import Provider, ProviderPlugin

OPTION_NAMES = frozenset({"replies", "latency"})


def _create(config: ProviderConfig) -> Provider:
    import math

    from tunewise._errors import ConfigError
    from tunewise._suggest import did_you_mean
    from tunewise.testing._scripted import ScriptedProvider

    where = f"profiles.{config.name}.options"
    for name in config.options:
        if name not in OPTION_NAMES:
            hint = did_you_mean(str(name), OPTION_NAMES)
            raise ConfigError(f"{where}: unknown option {name!r}{hint}; known: {', '.join(sorted(OPTION_NAMES))}")
    replies = config.options.get("replies")
    if replies is not None and (isinstance(replies, str) or not isinstance(replies, list | tuple)):
        raise ConfigError(f"{where}.replies: expected a list of strings, got {type(replies).__name__}")
    latency = config.options.get("latency", 0.0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or not math.isfinite(latency) or latency < 0:
        raise ConfigError(f"{where}.latency: expected a number of seconds >= 0, got {latency!r}")
    return ScriptedProvider(
        list(replies) if replies is not None else None,
        name=config.name,
        latency=float(latency),
    )


plugin = ProviderPlugin(
    create=_create,
    capabilities=frozenset({"chat", "stream", "embed", "fine_tune", "structured_output"}),
    description="In-memory scripted provider for tests and examples (tunewise.testing)",
    option_names=lambda: OPTION_NAMES,
)

"""The ``scripted:`` prefix: a :class:`ScriptedProvider` reachable by model reference.

Handy in configs and docs (``scripted:echo``): with no options it echoes; a profile can
script it, e.g. ``[profiles.bot] plugin = "scripted"`` with
``options = {replies = ["Hi!"], latency = 0.05}``.
"""

from __future__ import annotations

from tunewise._settings import ProviderConfig
from tunewise.interfaces.provider import Provider, ProviderPlugin


def _create(config: ProviderConfig) -> Provider:
    from tunewise.testing._scripted import ScriptedProvider

    replies = config.options.get("replies")
    return ScriptedProvider(
        list(replies) if replies is not None else None,
        name=config.name,
        latency=float(config.options.get("latency", 0.0)),
    )


plugin = ProviderPlugin(
    create=_create,
    capabilities=frozenset({"chat", "stream", "embed", "fine_tune", "structured_output"}),
    description="In-memory scripted provider for tests and examples (tunewise.testing)",
)

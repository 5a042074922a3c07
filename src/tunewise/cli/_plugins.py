"""Plugins' own commands: ``tunewise <plugin name> ...`` runs what the plugin's ``commands`` hook returns.

The root group's command table holds the built-in commands and, after them, the installed
plugins that have commands. Plugins are listed from metadata; a plugin's module is imported
only when its name is looked up (``tunewise local train``), or when the whole table is read
(``tunewise --help``).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
import typer.main

from tunewise._errors import ConfigError, TunewiseError
from tunewise._registry import load_plugin, load_plugins, providers
from tunewise.cli._command import CommandTree, prepare


class PluginCommandTree(CommandTree):
    """The root group: the built-in commands, then each installed plugin's commands under the plugin's name."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = PluginCommands(self.commands)


class PluginCommands(MutableMapping[str, Any]):
    """A command table: the built-in commands, and plugins' command groups built on first lookup."""

    def __init__(self, builtin: MutableMapping[str, Any]) -> None:
        self._builtin = builtin
        self._groups: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name in self._builtin:
            return self._builtin[name]
        if not any(plugin.name == name for plugin in providers()):
            raise KeyError(name)
        group = self._group(name)
        if group is None:
            raise KeyError(name)
        return group

    def __iter__(self) -> Iterator[str]:
        yield from self._builtin
        for name, plugin in load_plugins().items():
            if name in self._builtin or isinstance(plugin, TunewiseError):
                continue  # a built-in command wins; a broken plugin must not break the listing (running it says why)
            try:
                group = self._group(name)
            except TunewiseError:
                continue
            if group is not None:
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, name: str, command: Any) -> None:
        self._builtin[name] = command

    def __delitem__(self, name: str) -> None:
        del self._builtin[name]

    def _group(self, name: str) -> Any:
        """The click group of plugin ``name``'s commands (built once), or None when it has none."""
        if name not in self._groups:
            hook = load_plugin(name).commands
            group = None
            if hook is not None:
                app = hook()
                if not isinstance(app, typer.Typer):
                    got = type(app).__name__
                    raise ConfigError(f"plugin {name!r}: commands() must return a typer.Typer, got {got}")
                group = typer.main.get_group(app)  # a group even for one command; no completion options
                group.name = name
                prepare(group)
            self._groups[name] = group
        return self._groups[name]

"""``tunewise providers``: installed plugins, versions, capabilities and profiles."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tunewise._errors import TunewiseError
from tunewise._registry import load_plugin, providers
from tunewise._settings import load_settings
from tunewise.cli._output import print_json


@dataclass
class _Row:
    name: str
    distribution: str | None
    version: str | None
    capabilities: list[str]
    description: str
    error: str | None


def _rows() -> list[_Row]:
    rows = []
    for info in providers():
        try:
            plugin = load_plugin(info.name)
        except TunewiseError as exc:
            rows.append(_Row(info.name, info.distribution, info.version, [], "", str(exc)))
            continue
        caps = sorted(plugin.capabilities)
        rows.append(_Row(info.name, info.distribution, info.version, list(caps), plugin.description, None))
    return rows


def providers_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List installed provider plugins and the profiles that use them.

    Plugins' light top-level modules are imported to read their capabilities; heavy
    libraries (torch, transformers, chromadb) stay unloaded.
    """
    rows = _rows()
    profiles = sorted(load_settings().all_profiles().items())
    if as_json:
        data = {
            "plugins": [asdict(r) for r in rows],
            "profiles": {name: {"plugin": p.plugin, "base_url": p.base_url} for name, p in profiles},
        }
        print_json(data)
        return
    console = Console()
    table = Table(title="Provider plugins")
    for column in ("prefix", "distribution", "version", "capabilities", "description"):
        table.add_column(column)
    # Names, descriptions and errors come from installed plugins and settings: Text, never markup.
    for r in rows:
        caps = Text(", ".join(r.capabilities)) if r.capabilities else Text("failed to load", style="red")
        table.add_row(
            Text(r.name), Text(r.distribution or "?"), Text(r.version or "?"), caps, Text(r.error or r.description)
        )
    console.print(table)
    installed = {r.name for r in rows}
    ptable = Table(title="Profiles (PREFIX:MODEL)")
    for column in ("prefix", "plugin", "base_url"):
        ptable.add_column(column)
    for name, p in profiles:
        plugin = Text(p.plugin)
        if p.plugin not in installed:
            plugin.append(" (not installed)", style="red")
        ptable.add_row(Text(name), plugin, Text(p.base_url or ""))
    console.print(ptable)

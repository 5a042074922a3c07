"""What ``tunewise serve`` and ``tunewise chat`` answer with: a strategies TOML, or one model reference.

A TOML file needs ``[[strategies]]`` tables (see
[`tunewise.strategies.build_strategy()`][tunewise.strategies.build_strategy]) and may name shared retrievers in
``[retrievers]`` and server settings in ``[serve]``. Other top-level keys are left alone, so an evaluation config can be
served as it is. A bare model reference (``openai:gpt-4o-mini``) is served zero-shot under its own name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunewise._config_error import read_toml
from tunewise._errors import ConfigError

if TYPE_CHECKING:
    from tunewise._registry import Registry
    from tunewise.interfaces.strategy import Strategy

SERVE_KEYS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "api_key_env": str,
    "max_body_bytes": int,
    "timeout_s": (int, float),
    "max_concurrency": int,
}
"""Keys of a config's ``[serve]`` table and their types; command-line flags override them."""


@dataclass
class Served:
    """Strategies by name, plus the ``[serve]`` settings of the config they came from."""

    strategies: dict[str, Strategy]
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def split_target(target: str) -> tuple[str, str | None]:
    """``bot.toml:rag_ft`` -> (``bot.toml``, ``rag_ft``); a model reference or a plain path -> (it, None)."""
    head, sep, tail = target.rpartition(":")
    if sep and head.endswith(".toml") and tail:
        return head, tail
    return target, None


def is_config(target: str) -> bool:
    return target.endswith(".toml") or Path(target).is_file()


def load_served(target: str, *, registry: Registry | None = None) -> Served:
    """The strategies to serve for ``target``: a TOML file of ``[[strategies]]``, or a model reference."""
    if is_config(target):
        return _from_file(Path(target), registry)
    from tunewise._refs import ModelRef
    from tunewise.strategies import ZeroShot

    ref = ModelRef.parse(target)
    name = str(ref)
    return Served({name: ZeroShot(ref, name=name, registry=registry)}, source=name)


def _from_file(path: Path, registry: Registry | None) -> Served:
    from tunewise.strategies import BuildContext, build_strategies

    raw = read_toml(path)
    specs = raw.get("strategies")
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        raise ConfigError(f"{path}: needs at least one [[strategies]] table")
    settings = _serve_table(raw.get("serve", {}), path)
    retrievers = raw.get("retrievers", {})
    if not isinstance(retrievers, dict):
        raise ConfigError(f"{path}: retrievers must be a table of name = {{type = ..., ...}}")
    context = BuildContext(registry=registry, base_dir=path.parent)
    try:
        context.retrievers = {name: context.retriever(spec, f"retrievers.{name}") for name, spec in retrievers.items()}
        strategies = build_strategies(specs, context=context)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Served({s.name: s for s in strategies}, settings, source=str(path))


def _serve_table(table: Any, path: Path) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: serve must be a table")
    unknown = set(table) - set(SERVE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: serve has unknown keys {sorted(unknown)}; allowed: {sorted(SERVE_KEYS)}")
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, SERVE_KEYS[key]):
            raise ConfigError(f"{path}: serve.{key} has the wrong type ({type(value).__name__})")
        problem = serve_setting_problem(key, value)
        if problem:
            raise ConfigError(f"{path}: serve.{key}: {problem}")
    return dict(table)


def serve_setting_problem(key: str, value: Any) -> str | None:
    """What is wrong with a ``[serve]`` value of the right type, or ``None``: the same rules as the flags."""
    if key == "port" and not 0 <= value <= 65535:
        return f"{value} is not a port (0-65535; 0 picks a free one)"
    if key in ("max_body_bytes", "max_concurrency") and value < 1:
        return f"{value} must be at least 1"
    if key == "timeout_s" and not (math.isfinite(value) and value > 0):
        return f"{value} must be a positive number of seconds"
    if key in ("host", "api_key_env") and not value.strip():
        return "must not be empty"
    if key in ("host", "api_key_env") and "\x00" in value:
        return "must not contain a NUL character"
    return None


def pick(served: Served, name: str | None) -> Strategy:
    """One strategy by name; without a name, the only one (or the first, for a config of several)."""
    if name is None:
        return next(iter(served.strategies.values()))
    try:
        return served.strategies[name]
    except KeyError:
        known = ", ".join(sorted(served.strategies))
        raise ConfigError(f"{served.source}: no strategy named {name!r} (known: {known})") from None

"""What identifies a strategy (or metric) in a run id: its settings as plain JSON.

Built-in strategies say explicitly what identifies them (their ``fingerprint()`` method), so
renaming an attribute cannot silently change a run id and break resume. A component without a
``fingerprint()`` (a third-party strategy, a metric) is described by its public attributes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any


def plain(value: Any) -> Any:
    """JSON for settings: models as dumps, patterns as text, components by type and name."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, re.Pattern):
        return value.pattern
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    ref = getattr(value, "ref", None)
    if ref is not None and hasattr(value, "options"):  # a strategy's model caller
        return {"model": str(ref), "options": value.options}
    name = getattr(value, "name", None)
    return f"{type(value).__qualname__}:{name}" if name is not None else type(value).__qualname__


def fingerprint_of(component: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """``component``'s class and ``fields``, as the JSON-able settings a run id is computed from."""
    settings: dict[str, Any] = {"class": f"{type(component).__module__}.{type(component).__qualname__}"}
    for key, value in sorted(fields.items()):
        settings[key] = json.loads(json.dumps(value, default=plain))
    return settings


def settings_of(component: Any) -> dict[str, Any]:
    """A component's settings for the run's config and id: its ``fingerprint()``, else its public attributes."""
    fingerprint = getattr(component, "fingerprint", None)
    if callable(fingerprint):
        return dict(fingerprint())
    return attribute_settings(component)


def attribute_settings(component: Any) -> dict[str, Any]:
    """Settings derived from public attributes: for components that do not declare a ``fingerprint()``."""
    public = {k: v for k, v in getattr(component, "__dict__", {}).items() if not k.startswith("_")}
    return fingerprint_of(component, public)

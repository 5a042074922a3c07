"""Chroma-style metadata filters (``where``) evaluated in Python.

Chroma applies ``where`` itself; BM25 has no filter language, so the same expression is
evaluated here against each chunk's metadata. Supported: equality shorthand
(``{"lang": "en"}``), ``$eq $ne $gt $gte $lt $lte $in $nin`` and ``$and``/``$or``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunewise._errors import ConfigError

_MISSING = object()


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "$eq":
        return bool(value == operand)
    if op == "$ne":
        return bool(value != operand)
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise ConfigError(f"where: {op} needs a list, got {operand!r}")
        inside = value in operand
        return inside if op == "$in" else not inside
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if value is _MISSING or isinstance(value, str) or isinstance(operand, str):
            return False
        if op == "$gt":
            return bool(value > operand)
        if op == "$gte":
            return bool(value >= operand)
        if op == "$lt":
            return bool(value < operand)
        return bool(value <= operand)
    raise ConfigError(f"where: unknown operator {op!r}")


def matches(where: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` satisfies the Chroma ``where`` expression."""
    if not where:
        return True
    for key, condition in where.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list):
                raise ConfigError(f"where: {key} needs a list of expressions")
            results = (matches(sub, metadata) for sub in condition)
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        if key.startswith("$"):
            raise ConfigError(f"where: unknown operator {key!r}")
        value = metadata.get(key, _MISSING)
        if isinstance(condition, Mapping):
            for op, operand in condition.items():
                if value is _MISSING and op not in ("$ne", "$nin"):
                    return False
                if not _compare(op, value, operand):
                    return False
        elif value is _MISSING or value != condition:
            return False
    return True

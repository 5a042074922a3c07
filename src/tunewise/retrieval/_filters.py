"""Chroma-style metadata filters (``where``) evaluated in Python.

Chroma applies ``where`` itself; BM25 has no filter language, so the same expression is
evaluated here against each chunk's metadata. Supported: equality shorthand
(``{"lang": "en"}``), ``$eq $ne $gt $gte $lt $lte $in $nin`` and ``$and``/``$or``.
`check_where()` rejects anything else in one line before a store sees it, and
rewrites the shorthands Chroma does not take (several fields in one object, several
operators on one field, ``$and`` of one expression) into the form it does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tunewise._errors import ConfigError

_MISSING = object()
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
LOGICAL = ("$and", "$or")
_SUPPORTED = ", ".join((*OPERATORS, *LOGICAL))


def _scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int)  # bool is an int


def _operand(field: str, op: str, operand: Any) -> None:
    where = f"where: {field}: {op}"
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand or not all(_scalar(v) for v in operand):
            raise ConfigError(f"{where} needs a non-empty list of strings or numbers, got {operand!r}")
        if len({str if isinstance(v, str) else float for v in operand}) > 1:
            raise ConfigError(f"{where} needs values of one type (all strings or all numbers), got {operand!r}")
    elif op in ("$gt", "$gte", "$lt", "$lte"):
        if isinstance(operand, bool) or not isinstance(operand, int | float) or not _scalar(operand):
            raise ConfigError(f"{where} needs a finite number, got {operand!r}")
    elif not _scalar(operand):
        raise ConfigError(f"{where} needs a string, a finite number or a boolean, got {operand!r}")


def check_where(where: Any) -> dict[str, Any] | None:
    """``where`` checked against the supported operators and rewritten into the form Chroma accepts.

    Raises:
        ConfigError: one line naming the operator or field at fault and what is supported.
    """
    if where is None:
        return None
    if not isinstance(where, Mapping):
        raise ConfigError(f'where must be an object such as {{"kind": "markdown"}}, got {where!r}')
    if not where:
        return None
    parts: list[dict[str, Any]] = []
    for key, condition in where.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"where: field names must be non-empty strings, got {key!r}")
        if key in LOGICAL:
            if not isinstance(condition, list) or not condition:
                raise ConfigError(f"where: {key} needs a non-empty list of expressions, got {condition!r}")
            kept = []
            for sub in condition:
                if not isinstance(sub, Mapping):
                    raise ConfigError(f"where: {key} needs a list of objects, got {sub!r}")
                checked = check_where(sub)
                if checked is not None:
                    kept.append(checked)
            if len(kept) == 1:
                parts.append(kept[0])
            elif kept:
                parts.append({key: kept})
            continue
        if key.startswith("$"):
            raise ConfigError(f"where: unknown operator {key!r}; supported: {_SUPPORTED}")
        if isinstance(condition, Mapping):
            if not condition:
                raise ConfigError(f"where: {key}: empty operator object; use one of {', '.join(OPERATORS)}")
            for op, operand in condition.items():
                if op not in OPERATORS:
                    raise ConfigError(f"where: {key}: unknown operator {op!r}; supported: {', '.join(OPERATORS)}")
                _operand(key, op, operand)
                parts.append({key: {op: operand}})
        elif _scalar(condition):
            parts.append({key: condition})
        else:
            raise ConfigError(
                f"where: {key}: expected a string, a finite number, a boolean or an operator object "
                f'such as {{"$in": [...]}}, got {condition!r}'
            )
    return parts[0] if len(parts) == 1 else {"$and": parts}


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

"""Groups of cases: a run's results split by a case metadata key (``kind``: kb, style, handoff...).

A score over the whole test set can hide that one kind of case fails: the support bot's
``kb`` questions need retrieval while its ``style`` questions need fine-tuning. Reports,
comparisons and the ladder split by ``group_by`` to show it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunewise.evaluation._runstore import CaseResult

NO_GROUP = "(none)"
"""The group of a case without the metadata key."""

SMALL_GROUP = 10
"""Fewer paired cases than this: a group's interval is rough (the bootstrap needs more cases than that)."""


def group_of(case: Mapping[str, Any], key: str) -> str:
    """The group of a stored case (``CaseResult.case``) under ``key``: ``metadata[key]`` as text."""
    metadata = case.get("metadata") or {}
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    if value is None or value == "":
        return NO_GROUP
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def group_names(cases: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    """The groups in order of first appearance, `NO_GROUP` last."""
    seen: dict[str, None] = {}
    for case in cases:
        seen.setdefault(group_of(case, key), None)
    names = [name for name in seen if name != NO_GROUP]
    return [*names, NO_GROUP] if NO_GROUP in seen else names


def split_by_group(results: Sequence[CaseResult], key: str) -> dict[str, list[CaseResult]]:
    """Results per group, groups in order of first appearance (`NO_GROUP` last)."""
    out: dict[str, list[CaseResult]] = {name: [] for name in group_names((r.case for r in results), key)}
    for result in results:
        out[group_of(result.case, key)].append(result)
    return out

"""Docstrings are Markdown: no Sphinx roles, and every cross-reference names an object that exists.

mkdocstrings renders docstrings as Markdown (Google style), so a Sphinx role such as ``:class:`Model``` would
show literally in the API reference. A link is written ``[`Model`][tunewise.Model]`` (a mkdocstrings
cross-reference: ``mkdocs build --strict`` fails when the target is not rendered) or as plain backticks.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [ROOT / "src", *sorted(ROOT.glob("plugins/*/src")), *sorted(ROOT.glob("examples/*/src"))]
ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|attr|exc|mod|obj|const|ref|term):`[^`\n]*`")
CROSS_REF = re.compile(r"\]\[((?:tunewise|tunewise_[a-z]+)(?:\.\w+)+)\]")


def source_files() -> list[Path]:
    return sorted(path for root in SOURCE_ROOTS for path in root.rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def roles_in(text: str) -> list[str]:
    """Each Sphinx role in ``text``, as ``line: role``."""
    return [
        f"{number}: {match.group(0)}"
        for number, line in enumerate(text.splitlines(), start=1)
        for match in ROLE.finditer(line)
    ]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("A :class:`Model` for a ref.", 1),
        ("See :meth:`~tunewise.Model.chat` and :func:`evaluate`.", 2),
        ("Raises :py:exc:`ConfigError`; :data:`FULL`, :attr:`x`, :mod:`tunewise.costs`.", 4),
        ("A [`Model`][tunewise.Model] for a ref, or `evaluate()`.", 0),
        ("Times are ``hh:mm:ss``; a dict is ``{'a': 1}``.", 0),
    ],
)
def test_the_scanner_finds_roles_and_only_roles(text: str, found: int) -> None:
    assert len(roles_in(text)) == found


def test_no_sphinx_role_in_the_sources() -> None:
    files = source_files()
    assert len(files) > 100  # the scan sees the whole tree (src, plugins, examples)
    found = [f"{relative(path)}:{role}" for path in files for role in roles_in(path.read_text(encoding="utf-8"))]
    assert not found, "Sphinx roles render literally in the API reference; write [`Name`][tunewise.Name]:\n" + (
        "\n".join(found)
    )


def member(owner: Any, name: str) -> Any:
    """``owner.name``, or the field ``name`` of a dataclass or pydantic model (not a class attribute)."""
    if hasattr(owner, name):
        return getattr(owner, name)
    fields = {**getattr(owner, "__dataclass_fields__", {}), **getattr(owner, "model_fields", {})}
    return fields[name]


def lookup(identifier: str) -> Any:
    """The object a cross-reference names: the longest importable module prefix, then attributes."""
    parts = identifier.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = member(found, name)
        return found
    raise ModuleNotFoundError(identifier)


def cross_references() -> list[str]:
    return sorted({match.group(1) for path in source_files() for match in CROSS_REF.finditer(path.read_text("utf-8"))})


def test_cross_references_are_found() -> None:
    assert "tunewise.ConfigError" in cross_references()


@pytest.mark.parametrize("identifier", cross_references())
def test_every_cross_reference_names_an_object_that_exists(identifier: str) -> None:
    assert lookup(identifier) is not None

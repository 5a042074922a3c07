"""The core/plugin boundary, read from the source: the core imports no plugin, plugins import no private core module.

Every import statement counts, also those inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = ("tunewise_openai", "tunewise_local")
OUTSIDE_CORE = [ROOT / "plugins", ROOT / "examples"]


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every module an import in ``path`` names (``from a import b`` names ``a`` and ``a.b``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def python_files(*roots: Path) -> list[Path]:
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if not any(part.startswith(".") or part in {"build", "site", "node_modules"} for part in path.parts)
    )


def is_private_core(module: str) -> bool:
    """``tunewise._secrets``, ``tunewise.evaluation._cache``, ``tunewise._lazy.lazy_getattr``...: any private part."""
    parts = module.split(".")
    return parts[0] == "tunewise" and any(part.startswith("_") and not part.startswith("__") for part in parts[1:])


def test_the_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import tunewise_local.tiny\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from tunewise_openai import OpenAIProvider\n"
        "def f():\n"
        "    from tunewise import _secrets\n"
        "    from .sibling import x\n"
    )
    found = list(imported_modules(sample))
    assert (1, "tunewise_local.tiny") in found and (4, "tunewise_openai") in found
    assert any(is_private_core(module) for line, module in found if line == 6)
    assert not any(module.startswith("sibling") or module.startswith(".") for _, module in found)
    assert [is_private_core(m) for m in ("tunewise.plugin", "tunewise.evaluation._cache", "tunewise.__version__")] == [
        False,
        True,
        False,
    ]


def test_the_core_imports_no_plugin() -> None:
    files = python_files(ROOT / "src" / "tunewise")
    assert len(files) > 50
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in files
        for line, module in imported_modules(path)
        if module.split(".")[0] in PLUGIN_PACKAGES
    ]
    assert found == []


@pytest.mark.parametrize("root", OUTSIDE_CORE, ids=lambda root: root.name)
def test_plugins_and_examples_import_only_the_public_api(root: Path) -> None:
    files = python_files(root)
    assert any(path.name == "__init__.py" for path in files)
    found = sorted(
        {
            f"{path.relative_to(ROOT)}:{line}: {module}"
            for path in files
            for line, module in imported_modules(path)
            if is_private_core(module)
        }
    )
    assert found == [], "use tunewise or tunewise.plugin instead:\n" + "\n".join(found)

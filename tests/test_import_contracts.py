"""The import-linter contracts in pyproject.toml: kept by the code as it is, and broken by each kind of violation.

The second half copies the packages to a temporary tree, adds one forbidden import, and checks that
`lint-imports` names the contract it breaks: a contract that cannot fail would enforce nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = {
    "tunewise": ROOT / "src/tunewise",
    "tunewise_openai": ROOT / "plugins/openai/src/tunewise_openai",
    "tunewise_local": ROOT / "plugins/local/src/tunewise_local",
    "tunewise_echo": ROOT / "examples/tunewise-echo/src/tunewise_echo",
}


def lint_imports(cwd: Path, path: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path), "COLUMNS": "500"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT, [ROOT / "examples/tunewise-echo/src"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.fixture(scope="module")
def copied_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("contracts")
    for name, source in PACKAGES.items():
        shutil.copytree(source, tree / "pkgs" / name, ignore=shutil.ignore_patterns("__pycache__", "*.toml", "*.json*"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


@pytest.mark.parametrize(
    ("module", "line", "contract", "reported"),
    [
        # a plugin reaching into a private core module
        (
            "tunewise_openai/__init__.py",
            "import tunewise._secrets",
            "plugins import only",
            "tunewise_openai -> tunewise._secrets",
        ),
        (
            "tunewise_echo/__init__.py",
            "from tunewise.evaluation import _stats",
            "plugins import only",
            "tunewise_echo -> tunewise.evaluation._stats",
        ),
        # the core importing a plugin, directly or lazily inside a function
        (
            "tunewise/evaluation/__init__.py",
            "import tunewise_openai",
            "the core never imports",
            "tunewise.evaluation -> tunewise_openai",
        ),
        (
            "tunewise/_refs.py",
            "def _f() -> None:\n    import tunewise_local\n",
            "the core never imports",
            "tunewise._refs -> tunewise_local",
        ),
        # an upward import between layers
        (
            "tunewise/strategies/__init__.py",
            "import tunewise.evaluation",
            "core layers",
            "tunewise.strategies -> tunewise.evaluation",
        ),
        (
            "tunewise/interfaces/__init__.py",
            "import tunewise.retrieval",
            "core layers",
            "tunewise.interfaces -> tunewise.retrieval",
        ),
        (
            "tunewise/retrieval/__init__.py",
            "import tunewise.testing",
            "core layers",
            "tunewise.retrieval -> tunewise.testing",
        ),
        # a core subpackage reaching into another's private module, beyond the seeded list
        (
            "tunewise/ladder/__init__.py",
            "def _f() -> None:\n    from tunewise.evaluation import _stats\n",
            "core subpackages import",
            "tunewise.ladder -> tunewise.evaluation._stats",
        ),
        (
            "tunewise/cli/_costs.py",
            "import tunewise.costs._catalog",
            "core subpackages import",
            "tunewise.cli._costs -> tunewise.costs._catalog",
        ),
        # a cycle between two sibling modules, in the core or in a plugin (the other side is added below)
        ("tunewise/_cycle_a.py", "import tunewise._cycle_b", "no import cycles", "._cycle_"),
        ("tunewise_local/_cycle_a.py", "import tunewise_local._cycle_b", "no import cycles", "._cycle_"),
    ],
)
def test_each_kind_of_violation_breaks_its_contract(
    copied_tree: Path, module: str, line: str, contract: str, reported: str
) -> None:
    """Checked as a difference: work in progress elsewhere may break a contract already, this import must too."""
    target = copied_tree / "pkgs" / module
    original = target.read_text(encoding="utf-8") if target.exists() else None
    other = target.with_name("_cycle_b.py")
    if contract == "no import cycles":
        package = module.split("/")[0]
        other.write_text(f"import {package}._cycle_a\n", encoding="utf-8")
    target.write_text((original or "") + "\n" + line + "\n", encoding="utf-8")
    try:
        result = lint_imports(copied_tree, [copied_tree / "pkgs"])
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original, encoding="utf-8")
        other.unlink(missing_ok=True)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(row.startswith(contract) for row in broken), broken
    section = result.stdout.split("Broken contracts")[1]
    assert reported in section, section

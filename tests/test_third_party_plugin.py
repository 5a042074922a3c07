"""The example third-party plugin, installed for real, is discovered, loaded lazily and conforms.

``examples/tunewise-echo`` is installed the way a user installs a plugin (a wheel built by
pip, here with ``--target`` into a temporary folder), so discovery goes through real
installed metadata and entry points, not through this checkout's source tree.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunewise.testing import ProviderConformance

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tunewise-echo"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    # the caller's PYTHONPATH (e.g. a checkout's sources put first) stays, after the plugin's folder
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_discovered_without_import_then_loaded_on_first_use(site: dict[str, str]) -> None:
    code = """
import json, sys, anyio, tunewise
listed = {p.name: p.version for p in tunewise.providers()}
before = "tunewise_echo" in sys.modules
plugin = tunewise.load_plugin("echo")  # what `tunewise providers` does to read capabilities
light = "tunewise_echo._provider" not in sys.modules
async def main():
    async with tunewise.Registry() as registry:
        return (await registry.model("echo:parrot").chat("hello plugin")).text
text = anyio.run(main)
print(json.dumps([listed.get("echo"), before, sorted(plugin.capabilities), light, text]))
"""
    out = subprocess.run([sys.executable, "-c", code], env=site, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == ["0.3.1", False, ["chat", "embed", "stream"], True, "hello plugin"]


def _own_tests() -> int:
    """Test functions in the example's tests besides its conformance subclass."""
    return sum(
        node.name.startswith("test_")
        for path in (EXAMPLE / "tests").glob("test_*.py")
        if path.name != "test_conformance.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
    )


def test_passes_the_conformance_suite_and_its_own_tests(site: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        env=site,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [name for name in dir(ProviderConformance) if name.startswith("test_")]
    for check in checks:
        assert f"TestEchoConformance::{check} PASSED" in result.stdout, check
    own = _own_tests()
    assert own >= 2
    assert f" {len(checks) + own} passed in " in result.stdout, result.stdout

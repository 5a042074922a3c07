"""A third-party plugin, installed for real, is discovered, loaded lazily and conforms."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tunewise.testing import ProviderConformance

FIXTURE = Path(__file__).parent / "fixtures" / "tunewise-echo"


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
            str(FIXTURE),
        ],
        check=True,
        capture_output=True,
    )
    return {**os.environ, "PYTHONPATH": str(target)}


def test_discovered_without_import_then_loaded_on_first_use(site: dict[str, str]) -> None:
    code = """
import json, sys, anyio, tunewise
listed = {p.name: p.version for p in tunewise.providers()}
before = "tunewise_echo" in sys.modules
async def main():
    async with tunewise.Registry() as registry:
        return (await registry.model("echo:parrot").chat("hello plugin")).text
text = anyio.run(main)
print(json.dumps([listed.get("echo"), before, "tunewise_echo" in sys.modules, text]))
"""
    out = subprocess.run([sys.executable, "-c", code], env=site, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == ["0.3.1", False, True, "hello plugin"]


def test_passes_the_conformance_suite(site: dict[str, str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(FIXTURE),
            str(FIXTURE / "tests"),
        ],
        env=site,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [name for name in dir(ProviderConformance) if name.startswith("test_")]
    assert f"{len(checks)} passed" in result.stdout

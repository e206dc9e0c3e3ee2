"""Stable-Baselines3's own test modules, fetched from its source distribution at test time.

The tests are not copied into this repository: the sdist of the installed stable-baselines3 version is
downloaded once (``pip download --no-binary``) into a cache folder and its ``tests/`` modules are
imported from there, so that their generic test functions can be called with our algorithms.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

import stable_baselines3

CACHE = Path(os.environ.get("SB3_TESTS_CACHE", Path.home() / ".cache" / "sb3_dreamer"))


def tests_dir() -> Path:
    """Folder holding the ``tests/`` of the installed stable-baselines3's source distribution."""
    version = stable_baselines3.__version__
    target = CACHE / f"stable_baselines3-{version}" / "tests"
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "-d",
                tmp,
                f"stable_baselines3=={version}",
            ],
            check=True,
        )
        (archive,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/tests/" in m.name]
            tar.extractall(CACHE, members=members, filter="data")
    (extracted,) = CACHE.glob(f"*{version}/tests")
    if extracted != target:
        extracted.parent.rename(target.parent)
    return target


def load(name: str) -> ModuleType:
    """Import ``tests/<name>.py`` of stable-baselines3's sdist."""
    path = tests_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sb3_upstream_tests.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

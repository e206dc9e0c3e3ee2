"""Documentation: every public class, function and method has a docstring, and the MkDocs site builds
with warnings as errors (the API reference is generated from those docstrings)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pathlib
import pkgutil
import subprocess
import sys
from types import ModuleType

import pytest

import sb3_dreamer

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _package_modules() -> tuple[list[ModuleType], list[str]]:
    """Every module under ``sb3_dreamer`` except ``__main__`` ones; modules whose optional dependency is not
    installed are returned by name in the second list."""
    modules, missing = [sb3_dreamer], []
    for info in pkgutil.walk_packages(sb3_dreamer.__path__, prefix="sb3_dreamer."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ModuleNotFoundError as error:
            if error.name is None or error.name.split(".")[0] == "sb3_dreamer":
                raise
            missing.append(f"{info.name} (needs {error.name})")
    return modules, missing


def _has_doc(obj: object) -> bool:
    doc = inspect.getdoc(obj)
    return bool(doc and doc.strip())


def _own_class_doc(cls: type) -> bool:
    """The class's own docstring (``inspect.getdoc`` would fall back to a base class's)."""
    doc = cls.__dict__.get("__doc__")
    return isinstance(doc, str) and bool(doc.strip())


def _public_methods(cls: type) -> list[str]:
    """Public functions, class and static methods and properties defined in the class body itself."""
    names = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(member, (staticmethod, classmethod, property)) or inspect.isfunction(member):
            names.append(name)
    return names


def _missing_docstrings() -> list[str]:
    missing: list[str] = []
    for name in sb3_dreamer.__all__:
        obj = getattr(sb3_dreamer, name)
        if (inspect.isclass(obj) and not _own_class_doc(obj)) or (inspect.isfunction(obj) and not _has_doc(obj)):
            missing.append(f"sb3_dreamer.{name}")
    modules, _ = _package_modules()
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            qualified = f"{module.__name__}.{name}"
            if inspect.isfunction(obj) and not _has_doc(obj):
                missing.append(qualified)
            elif inspect.isclass(obj):
                if not _own_class_doc(obj):
                    missing.append(qualified)
                # inspect.getdoc falls back to the overridden method's docstring (SB3's, torch's)
                missing += [f"{qualified}.{m}" for m in _public_methods(obj) if not _has_doc(getattr(obj, m))]
    return sorted(set(missing))


def test_public_api_has_docstrings():
    missing = _missing_docstrings()
    assert not missing, "Public classes, functions and methods without a docstring:\n" + "\n".join(missing)


def test_modules_import():
    """The docstring check sees every module (optional extras aside)."""
    modules, missing = _package_modules()
    assert len(modules) > 10
    for entry in missing:
        print(f"not checked, optional dependency missing: {entry}")


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "algorithms" / "index.html").is_file()


def test_readme_test_command_is_what_ci_runs():
    """The README's test command (its second ``bash`` block, after the install) is the pytest line of ``.ci/run``,
    and the docs' front page gives the same command."""
    readme = (ROOT / "README.md").read_text()
    blocks = [block.split("```", 1)[0].strip() for block in readme.split("```bash\n")[1:]]
    command = blocks[1].rsplit("&& ", 1)[-1]
    assert command.startswith("OMP_NUM_THREADS=1 python -m pytest ") and "--cov" in command
    pytest_line = command.removeprefix("OMP_NUM_THREADS=1 ")
    ci = [line.split("#", 1)[0].strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert pytest_line in ci
    assert blocks[1] in (ROOT / "docs" / "index.md").read_text()


def test_readme_layout_names_every_module_and_benchmark():
    """The README's Layout block lists each module of ``sb3_dreamer/common/`` and each script of ``benchmarks/``."""
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1].split("```")[1]
    files = [*sorted((ROOT / "sb3_dreamer" / "common").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py"))]
    missing = [path.name for path in files if path.name != "__init__.py" and path.name not in layout]
    assert not missing, f"README's Layout does not name {missing}"

"""A generated project's dependencies: what it declares, pins and locks, against the template's
table of tested versions (extensions/dependencies.py)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from .template import TEMPLATE_ROOT, load_module


@functools.cache
def catalogue() -> ModuleType:
    """extensions/dependencies.py: the declared dependencies and TESTED_VERSIONS."""
    return load_module(
        "template_extensions_dependencies", TEMPLATE_ROOT / "extensions" / "dependencies.py"
    )


def load_pyproject(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def canonical_name(name: str) -> str:
    return str(catalogue().canonical_name(name))


def declared(pyproject: dict[str, Any]) -> dict[str, str]:
    """Every dependency pyproject.toml declares ([project] and every group), by package."""
    lines = [*pyproject["project"]["dependencies"]]
    for group in pyproject.get("dependency-groups", {}).values():
        lines += group
    return {canonical_name(line): line for line in lines}


def pinned(pyproject: dict[str, Any]) -> dict[str, str]:
    """The exact versions pyproject.toml pins its lock to, by package.

    uv: `[tool.uv] constraint-dependencies` (`name==version`); Poetry: the version constraints
    of `[tool.poetry.dependencies]` and of each group's table.
    """
    tool = pyproject.get("tool", {})
    if "poetry" in tool:
        tables = [tool["poetry"].get("dependencies", {})]
        tables += [group["dependencies"] for group in tool["poetry"].get("group", {}).values()]
        found: dict[str, str] = {}
        for table in tables:
            for name, version in table.items():
                assert isinstance(version, str), f"{name}: a pin is a version, not {version!r}"
                found[canonical_name(name)] = version
        return found
    found = {}
    for line in tool.get("uv", {}).get("constraint-dependencies", []):
        name, equals, version = line.partition("==")
        assert equals and canonical_name(name) == name.strip() and version.strip() == version, (
            f"constraint {line!r} is not an exact pin `name==version`"
        )
        found[name] = version
    return found


def locked(project: Path, lock_file: str) -> dict[str, str]:
    """The version of each package in the project's lock file (uv.lock or poetry.lock)."""
    lock = tomllib.loads((project / lock_file).read_text(encoding="utf-8"))
    return {canonical_name(package["name"]): package["version"] for package in lock["package"]}


def lock_differences(project: Path, lock_file: str) -> dict[str, tuple[str, str | None]]:
    """Direct dependencies the lock holds at another version than the tested one:
    `name: (tested, locked)`."""
    tested = catalogue().TESTED_VERSIONS
    versions = locked(project, lock_file)
    return {
        name: (tested[name], versions.get(name))
        for name in declared(load_pyproject(project))
        if versions.get(name) != tested.get(name)
    }

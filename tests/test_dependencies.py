"""The table of tested versions (extensions/dependencies.py) and the template's Renovate
configuration that raises it. Each variant's pins are checked by the render tier
(test_render.py), and its lock against the table by the variant tier (test_variants.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from harness.dependencies import catalogue
from harness.processes import run, tool
from harness.template import TEMPLATE_ROOT
from packaging.specifiers import SpecifierSet
from packaging.version import Version

TABLE = TEMPLATE_ROOT / "extensions" / "dependencies.py"
RENOVATE = TEMPLATE_ROOT / "renovate.json"


def rows() -> list[Any]:
    return [*catalogue().RUNTIME, *catalogue().DEV]


def test_every_dependency_has_one_tested_version() -> None:
    """A package the template can declare has a row in TESTED_VERSIONS, and each row is used."""
    tested = catalogue().TESTED_VERSIONS
    names = {row.name for row in rows()}
    assert sorted(names - set(tested)) == [], "packages without a tested version"
    assert sorted(set(tested) - names) == [], "tested versions of packages no project declares"
    assert list(tested) == sorted(tested), "keep TESTED_VERSIONS sorted by name"


@pytest.mark.parametrize("row", rows(), ids=lambda row: row.requirement)
def test_tested_version_is_inside_the_declared_range(row: Any) -> None:
    """The declared range admits the pinned version: a team that drops the pin keeps it."""
    version = Version(catalogue().TESTED_VERSIONS[row.name])
    specifiers = SpecifierSet(re.sub(r"^[^<>=!~]*", "", row.requirement))
    assert specifiers.contains(version, prereleases=True), (
        f"{row.requirement} excludes the tested {row.name} {version}"
    )


def test_renovate_configuration_matches_its_schema() -> None:
    run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.renovate", str(RENOVATE)],
        cwd=TEMPLATE_ROOT,
        step="renovate.json schema",
        timeout=120,
    )


def test_renovate_finds_every_tested_version() -> None:
    """Renovate's regular expression reads exactly TESTED_VERSIONS from the table, so every
    pin can be raised (and through the suite only: nothing else is managed)."""
    config = json.loads(RENOVATE.read_text())
    assert config["enabledManagers"] == ["custom.regex"]
    (manager,) = config["customManagers"]
    assert manager["managerFilePatterns"] == ["/^extensions/dependencies\\.py$/"]
    assert manager["datasourceTemplate"] == "pypi"
    found: dict[str, str] = {}
    for pattern in manager["matchStrings"]:
        python_pattern = pattern.replace("(?<", "(?P<")
        for match in re.finditer(python_pattern, TABLE.read_text()):
            found[match["depName"]] = match["currentValue"]
    assert found == catalogue().TESTED_VERSIONS

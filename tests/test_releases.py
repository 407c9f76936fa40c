"""Releases survive a clone (tests/harness/releases.py), and one Copier range is named everywhere.

Render-tier speed: a clone of this repository without its tags, and one rendered project.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from harness.processes import clean_env, run, tool
from harness.project_checks import GIT_IDENTITY
from harness.releases import (
    CHANGELOG,
    Release,
    ReleaseError,
    check_record,
    recorded_releases,
    restore_tags,
    tagged_commit,
)
from harness.template import TEMPLATE_ROOT, load_module

LIFECYCLE = load_module("template_lifecycle", TEMPLATE_ROOT / "extensions" / "lifecycle.py")
RELEASES = recorded_releases((TEMPLATE_ROOT / CHANGELOG).read_text(encoding="utf-8"))


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd=cwd, env=clean_env(**GIT_IDENTITY), step="git").stdout


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """This repository's history without its tags, as a mirror or `--no-tags` clone has it."""
    repo = tmp_path / "clone"
    git("clone", "-q", "--no-checkout", "--no-tags", str(TEMPLATE_ROOT), str(repo), cwd=tmp_path)
    (repo / CHANGELOG).write_text((TEMPLATE_ROOT / CHANGELOG).read_text(encoding="utf-8"))
    assert not git("tag", cwd=repo).split()
    return repo


def test_every_release_is_recorded_with_its_commit() -> None:
    assert [release.tag for release in RELEASES][-1] == "v0.1.0", "the first release is 0.1.0"
    assert Release("0.1.0", "dd53c2e301eb451c31d3473c8def57f090394b77") in RELEASES
    for release in RELEASES:
        check_record(TEMPLATE_ROOT, release)


def test_tags_are_restored_in_a_clone_without_them(clone: Path) -> None:
    with pytest.raises(ReleaseError, match=r"tag v\d+\.\d+\.\d+ is missing"):
        restore_tags(clone, create=False)

    made = restore_tags(clone)

    assert made == [f"{r.tag} {r.commit[:12]} (created)" for r in RELEASES]
    for release in RELEASES:
        assert tagged_commit(clone, release.tag) == release.commit
    assert restore_tags(clone) == [f"{r.tag} {r.commit[:12]} (present)" for r in RELEASES]
    # Copier finds the release by its tag now: a copy records it.
    project = clone.parent / "project"
    run(
        [
            tool("copier"),
            "copy",
            "--trust",
            "--defaults",
            f"--vcs-ref={RELEASES[-1].tag}",
            "--data=project_slug=tplrel",
            str(clone),
            str(project),
        ],
        cwd=clone.parent,
        env=clean_env(**GIT_IDENTITY),
        step="copier copy from the restored tag",
    )
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == RELEASES[-1].tag


def test_a_moved_tag_is_refused_not_moved(clone: Path) -> None:
    first = RELEASES[-1]
    git("tag", first.tag, f"{first.commit}~1", cwd=clone)

    with pytest.raises(ReleaseError) as refused:
        restore_tags(clone)

    assert f"tag {first.tag} points to" in str(refused.value)
    assert f"`git tag -f {first.tag} {first.commit[:12]}`" in str(refused.value)
    assert tagged_commit(clone, first.tag) != first.commit, "the tag was moved"


@pytest.mark.parametrize(
    ("changelog", "problem"),
    [
        ("## [Unreleased]\n\n## [1.0.0] - 2027-01-01\n\nText.\n", "found 0"),
        (
            "## [1.0.0] - 2027-01-01\n\nRelease commit: " + "a" * 40 + " (tag `v0.9.0`).\n",
            "found 1",
        ),
    ],
)
def test_a_release_without_its_record_is_a_sentence(changelog: str, problem: str) -> None:
    with pytest.raises(ReleaseError, match=r"release 1\.0\.0 needs exactly one line") as refused:
        recorded_releases(changelog)
    assert problem in str(refused.value)


def test_a_record_naming_another_commit_is_refused(clone: Path) -> None:
    parent = git("rev-parse", f"{RELEASES[-1].commit}~1", cwd=clone).strip()
    with pytest.raises(ReleaseError, match=r"has no '## \[0\.1\.0\]' heading"):
        check_record(clone, Release("0.1.0", parent))


# ---------------------------------------------------------------- one Copier range

COPIER_SPEC = re.compile(r"copier(?:-template-extensions)?(?:>=|==|~=|<)[0-9][0-9.,<>=!~]*[0-9]")


def test_the_copier_range_is_derived_from_min_copier_version() -> None:
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    minimum = config["_min_copier_version"]
    assert LIFECYCLE.copier_requirement(minimum) == LIFECYCLE.COPIER_REQUIREMENT
    assert LIFECYCLE.copier_requirement("9.19.0") == "copier>=9.19,<10"
    assert LIFECYCLE.copier_requirement("9.19.2") == "copier>=9.19.2,<10"
    assert LIFECYCLE.copier_requirement("10.0.0") == "copier>=10.0,<11"


def test_every_copier_command_names_the_same_range() -> None:
    """README, docs and the template's own dependencies agree with extensions/lifecycle.py."""
    expected = {LIFECYCLE.COPIER_REQUIREMENT, LIFECYCLE.EXTENSIONS_REQUIREMENT}
    places = [TEMPLATE_ROOT / "README.md", TEMPLATE_ROOT / "pyproject.toml"]
    places += sorted((TEMPLATE_ROOT / "docs").rglob("*.md"))
    places += sorted(path for path in (TEMPLATE_ROOT / "template").rglob("*") if path.is_file())
    found: dict[str, set[str]] = {}
    for path in places:
        for spec in COPIER_SPEC.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(spec, set()).add(str(path.relative_to(TEMPLATE_ROOT)))
    assert set(found) <= expected, f"other Copier versions named: {found}"
    assert LIFECYCLE.COPIER_REQUIREMENT in found, "no Copier command found to check"


def test_a_project_runs_the_template_copier(tmp_path: Path) -> None:
    project = tmp_path / "tplrel-project"
    run(
        [
            tool("copier"),
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref=HEAD",
            "--data=project_slug=tplrel-project",
            str(TEMPLATE_ROOT),
            str(project),
        ],
        cwd=tmp_path,
        env=clean_env(**GIT_IDENTITY),
        step="copier copy",
    )
    module = (project / "scripts/template_copier.py").read_text()
    assert LIFECYCLE.COPIER_COMMAND in module
    readme = (project / "README.md").read_text()
    for text in ("make update", "make template-check", LIFECYCLE.COPIER_COMMAND):
        assert text in readme, f"README.md does not mention {text}"
    makefile = (project / "Makefile").read_text()
    assert "\tuv run --no-project python scripts/update.py $(args)\n" in makefile
    workflow = (project / ".github/workflows/template-update.yml").read_text()
    assert "scripts/update.py" in workflow

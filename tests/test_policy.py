"""Policy tier: a platform team's policy and house template, enforced by `make template-check`.

The tests build throwaway git copies of this template (the working tree as it is, tagged
OLD_TAG, and a next release, NEW_TAG) and of the example house template in docs/house-template
(HOUSE_TAG, and a next release raising the policy's minimum template version). Projects are
generated with real Copier runs, committed, changed the ways a team would, and checked with
scripts/template_check.py run by the Python Copier is installed in, as `make template-check`
runs it (one test runs `make template-check` itself, Copier from PyPI through uvx).
"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.processes import clean_env, run, tool
from harness.project_checks import GIT_IDENTITY, template_check
from harness.template import TEMPLATE_ROOT, load_copier_config, load_module

LIFECYCLE = runpy.run_path(str(TEMPLATE_ROOT / "extensions" / "lifecycle.py"))
TEMPLATE_CHECK = load_module(
    "project_template_check", TEMPLATE_ROOT / "template" / "scripts" / "template_check.py"
)
COPIER_REQUIREMENT = LIFECYCLE["COPIER_REQUIREMENT"]
COPIER_EXTENSIONS_REQUIREMENT = LIFECYCLE["EXTENSIONS_REQUIREMENT"]
OLD_TAG = "v0.1.0"
NEW_TAG = "v0.2.0"
HOUSE_TAG = "1.0.0"
HOUSE_NEXT_TAG = "1.1.0"
HOUSE_TEMPLATE = TEMPLATE_ROOT / "docs" / "house-template"
HOUSE_ANSWERS = ".copier-answers.house.yml"
NEW_FILE = ("CONTRIBUTING.md", "# Contributing\n\nOpen a merge request; CI must pass.\n")
# The organisation's policy kept in its own repository: gitlab and kubernetes everywhere.
POLICY = {
    "ci": "gitlab",
    "deploy_target": "kubernetes",
    "template_check": {"minimum_version": "0.1.0", "house_owned": ["README.md"]},
}


def git(*args: str, cwd: Path) -> str:
    env = clean_env(**GIT_IDENTITY)
    return run(["git", *args], cwd=cwd, env=env, step=f"git {args[0]}").stdout


def commit_all(repo: Path, message: str, tag: str | None = None) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)
    if tag:
        git("tag", tag, cwd=repo)


def copier(*args: str | Path, cwd: Path) -> float:
    """Run Copier as a user would; returns the seconds it took."""
    started = time.monotonic()
    env = clean_env(**GIT_IDENTITY)
    run([tool("copier"), *args], cwd=cwd, env=env, step=f"copier {args[0]}")
    return time.monotonic() - started


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new))


@dataclass(frozen=True)
class Templates:
    ours: Path
    house: Path


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    """Throwaway repositories of this template and of the example house template, tagged."""
    ours = tmp_path_factory.mktemp("template-repo")
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_ROOT,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (source := TEMPLATE_ROOT / name).is_file():
            (ours / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, ours / name)
    git("init", "-q", cwd=ours)
    commit_all(ours, "This template, as it is", OLD_TAG)
    (ours / "template" / NEW_FILE[0]).write_text(NEW_FILE[1])
    commit_all(ours, "The next release", NEW_TAG)

    house = tmp_path_factory.mktemp("house-repo")
    shutil.copytree(HOUSE_TEMPLATE, house, dirs_exist_ok=True)
    git("init", "-q", cwd=house)
    commit_all(house, "The house template", HOUSE_TAG)
    policy = house / "template" / "template-policy.yml"
    replace_once(policy, 'minimum_version: "0.1.0"', 'minimum_version: "0.2.0"')
    replace_once(
        house / "template" / "CODEOWNERS.jinja",
        "/Dockerfile {{ platform_team }}\n",
        "/Dockerfile {{ platform_team }}\n/Makefile {{ platform_team }}\n",
    )
    commit_all(house, "Services must be on the FastAPI template 0.2.0", HOUSE_NEXT_TAG)
    return Templates(ours=ours, house=house)


def generate(templates: Templates, project: Path, data_file: Path) -> None:
    copier(
        "copy",
        "--trust",
        "--defaults",
        f"--vcs-ref={OLD_TAG}",
        f"--data-file={data_file}",
        f"--data=project_slug={project.name}",
        templates.ours,
        project,
        cwd=project.parent,
    )
    git("init", "-q", cwd=project)
    commit_all(project, "Generate from the template")


def assert_passes(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def assert_fails(result: subprocess.CompletedProcess[str], *named: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    for finding in named:
        assert finding in result.stderr, f"{finding!r} not reported:\n{result.stderr}"


def recorded(project: Path, answers_file: str = ".copier-answers.yml") -> dict[str, Any]:
    answers = yaml.safe_load((project / answers_file).read_text())
    assert isinstance(answers, dict)
    return answers


def test_policy_pins_answers(templates: Templates, tmp_path: Path) -> None:
    """The issue's finding: answers changed on update against a gitlab/kubernetes policy."""
    policy = tmp_path / "org-policy.yml"
    policy.write_text(yaml.safe_dump(POLICY))
    project = tmp_path / "tplpol-answers"
    # The policy doubles as the data file: the service starts compliant.
    generate(templates, project, policy)
    assert recorded(project)["ci"] == "gitlab"
    assert_passes(template_check(project, TEMPLATE_POLICY=str(policy)))

    copier(
        "update",
        "--trust",
        "--defaults",
        "-d",
        "ci=github",
        "-d",
        "deploy_target=compose",
        cwd=project,
    )
    commit_all(project, "Move to GitHub and compose")
    drifted = template_check(project, TEMPLATE_POLICY=str(policy))
    assert_fails(
        drifted,
        "answer `ci`: the project records 'github', the policy pins 'gitlab'",
        "answer `deploy_target`: the project records 'compose', the policy pins 'kubernetes'",
    )
    # Without the policy, the same project passes: the answers are what failed.
    assert_passes(template_check(project))


def test_policy_minimum_version_and_owned_files(templates: Templates, tmp_path: Path) -> None:
    policy = tmp_path / "org-policy.yml"
    project = tmp_path / "tplpol-version"
    policy.write_text(yaml.safe_dump(POLICY))
    generate(templates, project, policy)

    with (project / "README.md").open("a") as readme:
        readme.write("\nOur own notes.\n")
    commit_all(project, "Notes")
    # README.md is the project's in the template's list, the platform team's in this policy.
    assert_passes(template_check(project))
    assert_fails(
        template_check(project, TEMPLATE_POLICY=str(policy)),
        "house-owned files differ from the template: README.md.",
    )
    git("checkout", "-q", "HEAD~1", "--", "README.md", cwd=project)
    commit_all(project, "Notes moved elsewhere")
    assert_passes(template_check(project, TEMPLATE_POLICY=str(policy)))

    raised = {**POLICY, "template_check": {"minimum_version": NEW_TAG.removeprefix("v")}}
    policy.write_text(yaml.safe_dump(raised))
    assert_fails(
        template_check(project, TEMPLATE_POLICY=str(policy)),
        f"template version {OLD_TAG} is older than the policy's minimum, 0.2.0",
    )
    copier("update", "--trust", "--defaults", f"--vcs-ref={NEW_TAG}", cwd=project)
    commit_all(project, "Update the template")
    assert_passes(template_check(project, TEMPLATE_POLICY=str(policy)))

    # A mistake in the policy gets a sentence and status 2, not a traceback or a pass.
    policy.write_text(yaml.safe_dump({**POLICY, "template_check": {"minimum": "0.2.0"}}))
    mistaken = template_check(project, TEMPLATE_POLICY=str(policy))
    assert mistaken.returncode == 2, mistaken.stdout + mistaken.stderr
    assert "`template_check` takes only these settings: house_owned, minimum_version" in (
        mistaken.stderr
    )
    assert "Traceback" not in mistaken.stderr


def test_house_layer_through_updates(templates: Templates, tmp_path: Path) -> None:
    """Copy ours, apply the house template, update each, and drift from the house policy."""
    project = tmp_path / "tplpol-house"
    timings: dict[str, float] = {}
    data_file = tmp_path / "org-defaults.yml"  # the policy rendered by the house template
    shutil.copy(HOUSE_TEMPLATE / "template" / "template-policy.yml", data_file)
    generate(templates, project, data_file)
    timings["apply house"] = copier(
        "copy",
        "--trust",
        "--defaults",
        f"--vcs-ref={HOUSE_TAG}",
        templates.house,
        ".",
        cwd=project,
    )
    commit_all(project, "Apply the house template")
    codeowners = (project / "CODEOWNERS").read_text()
    # The house layer read our answers (_external_data): gitlab and kubernetes files are owned.
    assert "/.gitlab-ci.yml @acme/platform" in codeowners
    assert "/deploy/ @acme/platform" in codeowners
    assert recorded(project, HOUSE_ANSWERS)["_commit"] == HOUSE_TAG
    started = time.monotonic()
    assert_passes(template_check(project))
    timings["check"] = time.monotonic() - started

    timings["update ours"] = copier("update", "--trust", "--defaults", cwd=project)
    commit_all(project, "Update the FastAPI template")
    assert recorded(project)["_commit"] == NEW_TAG
    assert (project / NEW_FILE[0]).read_text() == NEW_FILE[1]
    assert (project / "CODEOWNERS").read_text() == codeowners, "our update touched house files"
    assert_passes(template_check(project))

    timings["update house"] = copier(
        "update", "--trust", "--defaults", f"--answers-file={HOUSE_ANSWERS}", cwd=project
    )
    commit_all(project, "Update the house template")
    assert recorded(project, HOUSE_ANSWERS)["_commit"] == HOUSE_NEXT_TAG
    assert "/Makefile @acme/platform" in (project / "CODEOWNERS").read_text()
    assert_passes(template_check(project))

    # Every file the house layer renders is house-owned, and so is its policy's list.
    with (project / "CODEOWNERS").open("a") as owners:
        owners.write("/app/ @someone-else\n")
    (project / "template-policy.yml").write_text("ci: github\n")  # the project's copy is ignored
    assert_fails(
        template_check(project),
        "house-owned files differ from the template: CODEOWNERS, template-policy.yml.",
    )
    git("checkout", "-q", "--", ".", cwd=project)

    copier("update", "--trust", "--defaults", "-d", "ci=github", cwd=project)
    commit_all(project, "Move to GitHub")
    # The house layer follows the service's answers, and the policy names the one it pins.
    copier("update", "--trust", "--defaults", f"--answers-file={HOUSE_ANSWERS}", cwd=project)
    commit_all(project, "Update the house template")
    assert recorded(project, HOUSE_ANSWERS)["service_ci"] == "github"
    assert "/.github/workflows/ @acme/platform" in (project / "CODEOWNERS").read_text()
    drifted = template_check(project)
    assert_fails(drifted, "answer `ci`: the project records 'github', the policy pins 'gitlab'")
    assert "House-owned files that differ from the template: 0" in drifted.stdout
    print("timings (s):", {step: round(seconds, 1) for step, seconds in timings.items()})


def test_make_template_check_leaves_no_trace(templates: Templates, tmp_path: Path) -> None:
    """`make template-check` as a developer runs it: Copier through uvx, nothing left behind."""
    project = tmp_path / "tplpol-trace"
    data_file = tmp_path / "answers.yml"
    data_file.write_text("package_manager: uv\n")
    generate(templates, project, data_file)
    before = git("status", "--porcelain", "--ignored", cwd=project)
    assert before == "!! .env\n"  # generated, ignored, never committed
    result = run(
        ["make", "template-check"],
        cwd=project,
        env=clean_env(**GIT_IDENTITY),
        step="make template-check",
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "House-owned files that differ from the template: 0" in result.stdout
    after = git("status", "--porcelain", "--ignored", cwd=project)
    assert after == before, f"make template-check left files behind:\n{after}"


def test_one_copier_requirement_everywhere(tmp_path: Path) -> None:
    """Copier's supported range lives in extensions/lifecycle.py; everything else agrees."""
    lower = re.fullmatch(r"copier>=([\d.]+),<\d+", COPIER_REQUIREMENT)
    assert lower, COPIER_REQUIREMENT
    for config in (
        load_copier_config(),
        yaml.safe_load((HOUSE_TEMPLATE / "copier.yml").read_text()),
    ):
        assert config["_min_copier_version"].removesuffix(".0") == lower[1]
    sources = [
        TEMPLATE_ROOT / "README.md",
        TEMPLATE_ROOT / "pyproject.toml",
        *(TEMPLATE_ROOT / "docs").rglob("*.md"),
        *(TEMPLATE_ROOT / "template").rglob("*.jinja"),
        *(TEMPLATE_ROOT / "template" / "scripts").glob("*.py"),
    ]
    for source in sources:
        for found in re.findall(r"copier(?:==|>=|~=)[\d.]+(?:,<\d+)?", source.read_text()):
            assert found == COPIER_REQUIREMENT, f"{source}: {found} (not {COPIER_REQUIREMENT})"
        for found in re.findall(r"copier-template-extensions>=[\d.]*\d", source.read_text()):
            assert found == COPIER_EXTENSIONS_REQUIREMENT, f"{source}: {found}"

    project = tmp_path / "tplpol-readme"
    copier("copy", "--trust", "--defaults", "--vcs-ref=HEAD", TEMPLATE_ROOT, project, cwd=tmp_path)
    readme = (project / "README.md").read_text()
    assert "make template-check" in readme
    makefile = (project / "Makefile").read_text()
    assert f"--from '{COPIER_REQUIREMENT}'" in makefile


@pytest.mark.parametrize("location", ["http://policy.example.com/org.yml", "ftp://example.com/p"])
def test_policy_url_must_be_https(location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy from a URL without TLS is refused with a sentence before anything is fetched."""
    monkeypatch.setenv("TEMPLATE_POLICY", location)
    with pytest.raises(TEMPLATE_CHECK.CheckError) as refused:
        TEMPLATE_CHECK.read_policy({})
    assert str(refused.value) == (
        f"TEMPLATE_POLICY takes an https URL or a local path, not {location}: a policy fetched "
        "without TLS could be altered on its way"
    )


def test_policy_from_a_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "org-policy.yml"
    policy.write_text(yaml.safe_dump(POLICY))
    monkeypatch.setenv("TEMPLATE_POLICY", str(policy))
    assert TEMPLATE_CHECK.read_policy({}) == (str(policy), POLICY)

"""Render tier: every variant renders into a clean project. Fast and needs no services."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import render_checks
from harness.dependencies import catalogue, declared, load_pyproject, pinned
from harness.files import load_yaml_documents, parse_env_file
from harness.processes import run, tool
from harness.rendering import VARIANTS, assert_rendered, variant_params
from harness.template import load_copier_config

PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "change-this", "changethis", "secret", "secret-key"}
)
MIN_SECRET_LENGTH = 32

# (what, glob inside the project, check-jsonschema builtin schema)
SCHEMA_CHECKS = (
    ("github-workflows", ".github/workflows/*.y*ml", "vendor.github-workflows"),
    ("compose", "compose.y*ml", "vendor.compose-spec"),
    ("dependabot", ".github/dependabot.y*ml", "vendor.dependabot"),
    ("gitlab-ci", ".gitlab-ci.y*ml", "vendor.gitlab-ci"),
    ("renovate", "renovate.json", "vendor.renovate"),
)


@pytest.fixture
def project(request: pytest.FixtureRequest, render_variant: Callable[[str], Any]) -> Path:
    return Path(render_variant(request.param).project_dir)


@pytest.fixture
def result(request: pytest.FixtureRequest, render_variant: Callable[[str], Any]) -> Any:
    return render_variant(request.param)


@pytest.mark.parametrize("result", variant_params(), indirect=True)
def test_renders(result: Any) -> None:
    project = assert_rendered(result, "the variant")
    assert (project / "pyproject.toml").is_file(), "the project has no pyproject.toml"
    assert (project / "app").is_dir(), "the project has no app/ package"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_jinja_left(project: Path) -> None:
    render_checks.assert_no_jinja_left(project)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_empty_files(project: Path) -> None:
    render_checks.assert_no_empty_files(project)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_template_only_files(project: Path) -> None:
    render_checks.assert_no_template_only_files(project)


@pytest.mark.parametrize("result", variant_params(), indirect=True)
def test_answers_file(result: Any, request: pytest.FixtureRequest) -> None:
    project = Path(result.project_dir)
    answers_file = project / load_copier_config().get("_answers_file", ".copier-answers.yml")
    assert answers_file.is_file(), f"{answers_file.name} is missing: `copier update` cannot work"
    documents = load_yaml_documents(answers_file.read_text())
    assert len(documents) == 1, f"{answers_file.name} must hold one YAML mapping"
    recorded = documents[0]
    assert isinstance(recorded, dict), f"{answers_file.name} is not a mapping: {recorded!r}"
    for key in ("_src_path", "_commit"):
        assert recorded.get(key), f"{answers_file.name} has no {key}: {recorded!r}"
    missing = {
        question: answer
        for question, answer in result.answers.items()
        if recorded.get(question) != answer
    }
    assert not missing, (
        f"answers not recorded in {answers_file.name} (question: expected): {missing}"
    )
    variant = request.node.callspec.params["result"]
    for question, answer in VARIANTS[variant].items():
        assert recorded.get(question) == answer, f"{question} should be recorded as {answer!r}"


def _secret_key(project: Path) -> str:
    env_file = project / ".env"
    assert env_file.is_file(), ".env is missing from the rendered project"
    values = parse_env_file(env_file)
    assert "SECRET_KEY" in values, f".env has no SECRET_KEY: {sorted(values)}"
    return values["SECRET_KEY"]


@pytest.mark.xdist_group("render-default")
def test_env_secret_is_generated_per_project(default_project: Path, copie: Any) -> None:
    secret = _secret_key(default_project)
    assert secret.lower() not in PLACEHOLDER_SECRETS, f"SECRET_KEY is a placeholder: {secret!r}"
    assert "change" not in secret.lower(), f"SECRET_KEY looks like a placeholder: {secret!r}"
    assert len(secret) >= MIN_SECRET_LENGTH, f"SECRET_KEY is shorter than {MIN_SECRET_LENGTH}"

    leaks = [
        str(path.relative_to(default_project))
        for path, text in render_checks.text_files(default_project)
        if path.name != ".env" and secret in text
    ]
    assert not leaks, f"the generated SECRET_KEY is written outside .env: {leaks}"

    second = assert_rendered(copie.copy(), "the default variant a second time")
    assert _secret_key(second) != secret, "two renders produced the same SECRET_KEY"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_ruff_check(project: Path) -> None:
    run([tool("ruff"), "check", "--no-cache", "."], cwd=project, step="ruff check", timeout=120)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_ruff_format(project: Path) -> None:
    run(
        [tool("ruff"), "format", "--check", "--diff", "--no-cache", "."],
        cwd=project,
        step="ruff format --check",
        timeout=120,
    )


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_whitespace(project: Path) -> None:
    render_checks.assert_whitespace(project)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_yaml_files_parse(project: Path) -> None:
    render_checks.assert_yaml_files_parse(project)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_files_match_their_schemas(project: Path) -> None:
    answers = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
    ci_schema = {
        "github": {"github-workflows", "dependabot"},
        "gitlab": {"gitlab-ci", "renovate"},
        "none": set(),
    }
    expected = {"compose"} | ci_schema[answers["ci"]]
    found = set()
    for what, pattern, schema in SCHEMA_CHECKS:
        files = sorted(project.glob(pattern))
        if not files:
            continue
        found.add(what)
        run(
            [tool("check-jsonschema"), "--builtin-schema", schema, *files],
            cwd=project,
            step=f"{what} schema",
            timeout=120,
        )
    assert found == expected, f"expected files for {sorted(expected)}, found {sorted(found)}"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_python_version_is_pinned_everywhere(project: Path) -> None:
    """The interpreter of `make install` is the one of the image, CI and requires-python.

    uv reads `.python-version` (pyenv too); Poetry ignores it, so `make install` runs
    `poetry env use` first. Either way a machine whose default Python is newer builds the
    project's .venv on the version it was generated for.
    """
    answers = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
    version = str(answers["python_version"])
    makefile = (project / "Makefile").read_text()
    install = makefile.split("\ninstall:", 1)[1].split("\n\n", 1)[0]
    if answers["package_manager"] == "poetry":
        assert not (project / ".python-version").exists()
        assert f"\tpoetry env use {version}\n" in install, install
    else:
        assert (project / ".python-version").read_text() == f"{version}\n"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"].startswith(f">={version},")
    images = re.findall(r"^FROM python:([\d.]+)-", (project / "Dockerfile").read_text(), re.M)
    assert images and set(images) == {version}, images
    if answers["ci"] == "github":
        ci = (project / ".github/workflows/ci.yml").read_text()
        pins = set(re.findall(r"python-version: \"([\d.]+)\"", ci))
    elif answers["ci"] == "gitlab":
        ci = (project / ".gitlab-ci.yml").read_text()
        pins = set(re.findall(r"image: \S*python:?([\d.]+)-", ci))
    else:
        pins = {version}
    assert pins == {version}, f"CI runs Python {sorted(pins)}, the project pins {version}"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_dependencies_are_pinned_to_the_tested_versions(project: Path) -> None:
    """Every dependency the project declares is pinned to the version of the template's table,
    and nothing else is: its first lock installs what the variant tier tested."""
    pyproject = load_pyproject(project)
    tested = catalogue().TESTED_VERSIONS
    expected = {name: tested.get(name) for name in declared(pyproject)}
    assert pinned(pyproject) == expected, "pins differ from extensions/dependencies.py"
    poetry = pyproject["tool"].get("poetry")
    if poetry is not None:
        # Poetry applies a pin to the group that declares the package, and to no other.
        runtime = declared({"project": pyproject["project"]})
        assert sorted(poetry["dependencies"]) == sorted(runtime)
        dev = declared({"project": {"dependencies": pyproject["dependency-groups"]["dev"]}})
        assert sorted(poetry["group"]["dev"]["dependencies"]) == sorted(dev)


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_dependency_updates_are_configured(project: Path) -> None:
    """Dependabot (GitHub) or Renovate (GitLab) raises the project's Python dependencies with
    its package manager, its CI images and actions, its base images and, with Renovate, its
    template version."""
    answers = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
    poetry = answers["package_manager"] == "poetry"
    dependabot = project / ".github" / "dependabot.yml"
    renovate = project / "renovate.json"
    assert dependabot.exists() == (answers["ci"] == "github"), "dependabot.yml only with GitHub"
    assert renovate.exists() == (answers["ci"] == "gitlab"), "renovate.json only with GitLab"
    if answers["ci"] == "github":
        config = load_yaml_documents(dependabot.read_text())[0]
        ecosystems = {update["package-ecosystem"] for update in config["updates"]}
        python = "pip" if poetry else "uv"
        assert ecosystems == {python, "github-actions", "docker", "docker-compose"}, ecosystems
    elif answers["ci"] == "gitlab":
        config = json.loads(renovate.read_text())
        python = "poetry" if poetry else "pep621"
        managers = {python, "gitlabci", "dockerfile", "docker-compose", "copier"}
        assert set(config["enabledManagers"]) == managers, config["enabledManagers"]
        # Renovate's copier manager runs `copier update`, and our template needs its extensions.
        assert config["ignoreScripts"] is False


def test_variants_are_distinct() -> None:
    """Guard against a variant silently rendering the same answers as another one."""
    rendered = {repr(sorted(answers.items())) for answers in VARIANTS.values()}
    assert len(rendered) == len(VARIANTS)

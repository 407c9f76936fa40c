"""Render tier: every variant renders into a clean project. Fast and needs no services."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness.files import iter_project_files, load_yaml_documents, parse_env_file, read_text_file
from harness.processes import run, tool
from harness.rendering import VARIANTS, assert_rendered, variant_params
from harness.template import load_copier_config

# Empty by definition: PEP 561 markers and directory keepers.
EMPTY_BY_DESIGN = frozenset({"py.typed", ".gitkeep"})
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "change-this", "changethis", "secret", "secret-key"}
)
MIN_SECRET_LENGTH = 32

# Jinja left in output. GitHub Actions `${{ ... }}`, shell `${#var}`, Go templates (`{{.Status}}`
# in docker/compose health checks) and Markdown heading ids (`{#anchor}`) are not Jinja. A lone
# `}}` is not checked: it ends nested dicts in Python and JSON, and every Jinja expression left
# behind also has the `{{` that is checked.
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
GO_TEMPLATE = re.compile(r"\{\{-?\s*\.[^{}]*\}\}")
PROSE_GAP = re.compile(r"\w  +\w")
JINJA_MARKERS = (
    ("{%", re.compile(r"\{%")),
    ("%}", re.compile(r"%\}")),
    ("{#", re.compile(r"(?<!\$)\{#(?![\w-]+\})")),
    ("{{", re.compile(r"\{\{")),
)
ANSWERED_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")
YAML_SUFFIXES = (".yml", ".yaml")
# (what, glob inside the project, check-jsonschema builtin schema)
SCHEMA_CHECKS = (
    ("github-workflows", ".github/workflows/*.y*ml", "vendor.github-workflows"),
    ("compose", "compose.y*ml", "vendor.compose-spec"),
    ("dependabot", ".github/dependabot.y*ml", "vendor.dependabot"),
    ("gitlab-ci", ".gitlab-ci.y*ml", "vendor.gitlab-ci"),
)


def text_files(project: Path) -> list[tuple[Path, str]]:
    files = []
    for path in iter_project_files(project):
        text = read_text_file(path)
        if text is not None:
            files.append((path, text))
    return files


def report(project: Path, problems: list[str], what: str) -> None:
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        pytest.fail(f"{what} in {project}:\n{listing}{more}", pytrace=False)


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


def answered_markup(answers: dict[str, Any]) -> list[str]:
    """Jinja-like text typed into free-text answers (`adversarial`): the answer's, not left over.

    Each is kept whole by every encoding of the answer (it holds no quote or backslash).
    """
    texts = [value for value in answers.values() if isinstance(value, str)]
    return [markup for text in texts for markup in ANSWERED_MARKUP.findall(text)]


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_jinja_left(project: Path) -> None:
    answered = answered_markup(yaml.safe_load((project / ".copier-answers.yml").read_text()))
    problems = []
    for path in iter_project_files(project):
        relative = path.relative_to(project)
        if any(marker in str(relative) for marker in ("{{", "}}", "{%", "%}")):
            problems.append(f"{relative}: Jinja in the file name")
    for path, text in text_files(project):
        relative = path.relative_to(project)
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = GO_TEMPLATE.sub("", GITHUB_EXPRESSION.sub("", line))
            for markup in answered:
                stripped = stripped.replace(markup, "")
            for marker, pattern in JINJA_MARKERS:
                if pattern.search(stripped):
                    problems.append(f"{relative}:{number}: {marker!r} in {line.strip()!r}")
                    break
    report(project, problems, "Jinja syntax left")


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_empty_files(project: Path) -> None:
    problems = [
        str(path.relative_to(project))
        for path in iter_project_files(project)
        if path.name not in EMPTY_BY_DESIGN and not path.read_bytes().strip()
    ]
    report(project, problems, "Empty (or whitespace-only) files")


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_no_template_only_files(project: Path) -> None:
    problems = []
    for path in iter_project_files(project):
        relative = path.relative_to(project)
        if relative.parts[0] in {"copier.yml", "copier.yaml", "extensions"}:
            problems.append(f"{relative}: template-only file")
        elif path.name.endswith(".jinja"):
            problems.append(f"{relative}: .jinja suffix left")
        elif path.suffix in {".rej", ".orig"}:
            problems.append(f"{relative}: conflict leftover")
    if (project / "extensions").exists():
        problems.append("extensions/: template-only directory")
    report(project, problems, "Template-only files")


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
        for path, text in text_files(default_project)
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


def prose_gaps(markdown: str) -> Iterator[tuple[int, str]]:
    """Two spaces between words of Markdown prose, where an answer rendered as nothing."""
    in_code = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        is_prose = not (in_code or line.lstrip().startswith("|") or line.startswith("    "))
        if is_prose and (gap := PROSE_GAP.search(line.strip())):
            yield number, f"two spaces between words: {gap.group()!r}"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_whitespace(project: Path) -> None:
    problems = []
    for path, text in text_files(project):
        relative = path.relative_to(project)
        lines = text.split("\n")
        blank_run = 0
        for number, line in enumerate(lines, start=1):
            if line != line.rstrip():
                problems.append(f"{relative}:{number}: trailing whitespace")
            blank_run = blank_run + 1 if not line.strip() else 0
            if blank_run == 3 and number < len(lines):
                problems.append(f"{relative}:{number - 2}: 3 or more consecutive blank lines")
        if not text.endswith("\n"):
            problems.append(f"{relative}: no newline at the end of the file")
        elif text.endswith("\n\n"):
            problems.append(f"{relative}: blank lines at the end of the file")
        if text.startswith("\n"):
            problems.append(f"{relative}:1: blank line at the start of the file")
        if path.suffix == ".md":
            problems.extend(f"{relative}:{number}: {gap}" for number, gap in prose_gaps(text))
    report(project, problems, "Whitespace left by the template")


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_yaml_files_parse(project: Path) -> None:
    problems = []
    checked = 0
    for path, text in text_files(project):
        if not path.name.endswith(YAML_SUFFIXES):
            continue
        checked += 1
        try:
            load_yaml_documents(text)
        except Exception as error:
            problems.append(f"{path.relative_to(project)}: {error}")
    report(project, problems, "YAML files that do not parse")
    assert checked, "no YAML file rendered (expected at least .copier-answers.yml)"


@pytest.mark.parametrize("project", variant_params(), indirect=True)
def test_files_match_their_schemas(project: Path) -> None:
    answers = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
    ci_schema = {"github": {"github-workflows"}, "gitlab": {"gitlab-ci"}, "none": set()}
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


def test_variants_are_distinct() -> None:
    """Guard against a variant silently rendering the same answers as another one."""
    rendered = {repr(sorted(answers.items())) for answers in VARIANTS.values()}
    assert len(rendered) == len(VARIANTS)

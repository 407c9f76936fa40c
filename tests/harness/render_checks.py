"""The render tier's conventions, as checks of one rendered project.

The render tier (test_render.py) runs them on every variant; the Kubernetes checks run them on
the renders they make. Each fails the test with every problem it found, file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .files import iter_project_files, load_yaml_documents, read_text_file

# Empty by definition: PEP 561 markers and directory keepers.
EMPTY_BY_DESIGN = frozenset({"py.typed", ".gitkeep"})

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


def text_files(project: Path) -> list[tuple[Path, str]]:
    """(path, text) of every text file of the project."""
    files = []
    for path in iter_project_files(project):
        text = read_text_file(path)
        if text is not None:
            files.append((path, text))
    return files


def report(project: Path, problems: list[str], what: str) -> None:
    """Fail with the first 50 problems, if any."""
    if problems:
        listing = "\n".join(f"  {problem}" for problem in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        pytest.fail(f"{what} in {project}:\n{listing}{more}", pytrace=False)


def answered_markup(answers: dict[str, Any]) -> list[str]:
    """Jinja-like text typed into free-text answers (`adversarial`): the answer's, not left over.

    Each is kept whole by every encoding of the answer (it holds no quote or backslash).
    """
    texts = [value for value in answers.values() if isinstance(value, str)]
    return [markup for text in texts for markup in ANSWERED_MARKUP.findall(text)]


def prose_gaps(markdown: str) -> Iterator[tuple[int, str]]:
    """Two spaces between words of Markdown prose, where an answer rendered as nothing."""
    in_code = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        is_prose = not (in_code or line.lstrip().startswith("|") or line.startswith("    "))
        if is_prose and (gap := PROSE_GAP.search(line.strip())):
            yield number, f"two spaces between words: {gap.group()!r}"


def assert_no_jinja_left(project: Path) -> None:
    """No Jinja syntax in a file name or a line, but what an answer typed."""
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


def assert_no_empty_files(project: Path) -> None:
    """No empty or whitespace-only file, but markers that are empty by design."""
    problems = [
        str(path.relative_to(project))
        for path in iter_project_files(project)
        if path.name not in EMPTY_BY_DESIGN and not path.read_bytes().strip()
    ]
    report(project, problems, "Empty (or whitespace-only) files")


def assert_no_template_only_files(project: Path) -> None:
    """No copier.yml, extensions/, `.jinja` suffix or conflict leftover."""
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


def assert_whitespace(project: Path) -> None:
    """No trailing whitespace or runs of blank lines; no double spaces in Markdown prose."""
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


def assert_yaml_files_parse(project: Path) -> None:
    """Every YAML file parses (and there is at least one)."""
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

"""Docs tier: the mkdocs site builds strictly and its question reference matches copier.yml.

The site is built once per session (all tests here share one xdist group, so one worker builds
it). The reference is checked against copier's own reading of copier.yml, not against the
hook that generates the page, so a bug in the hook cannot hide itself.
"""

from __future__ import annotations

import html
import importlib.util
import re
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from harness.processes import clean_env, run
from harness.template import TEMPLATE_ROOT, load_module

pytestmark = pytest.mark.xdist_group("docs")

QUESTIONS_PAGE = Path("questions") / "index.html"


class ReferenceParser(HTMLParser):
    """Collects the element ids, the value markers and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.values: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if "data-question" in attributes:
            self.values.append(attributes)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> ReferenceParser:
    parser = ReferenceParser()
    parser.feed(page.read_text())
    return parser


def normalize(text: str) -> str:
    return " ".join(html.unescape(text).split())


def value_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def copier_questions() -> dict[str, dict[str, Any]]:
    """The questions as copier itself reads copier.yml (includes and multiple documents)."""
    try:
        from copier._template import filter_config, load_template_config
    except ImportError as error:  # pragma: no cover - a Copier release that moved them
        pytest.fail(f"copier's config loader moved; update this test: {error}", pytrace=False)
    _, questions = filter_config(load_template_config(TEMPLATE_ROOT / "copier.yml"))
    return questions


def offered_values(details: dict[str, Any]) -> list[str]:
    """Every value a question offers, in each of copier's choice forms."""
    choices = details.get("choices")
    if not choices:
        return ["true", "false"] if details.get("type") == "bool" else []
    if isinstance(choices, str):
        return []  # computed by copier at prompt time; nothing to check statically
    if isinstance(choices, dict):
        values = list(choices.values())
    else:
        values = [c[1] if isinstance(c, list) and len(c) == 2 else c for c in choices]
    return [value_key(v["value"] if isinstance(v, dict) and "value" in v else v) for v in values]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once, strictly: any warning (a broken link or anchor) fails it."""
    site_dir = tmp_path_factory.mktemp("site")
    started = time.monotonic()
    run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            TEMPLATE_ROOT / "mkdocs.yml",
            "--site-dir",
            site_dir,
        ],
        cwd=TEMPLATE_ROOT,
        env=clean_env(NO_MKDOCS_2_WARNING="1"),
        timeout=300,
        step="mkdocs build --strict",
    )
    print(f"mkdocs build --strict: {time.monotonic() - started:.1f}s")
    return site_dir


@pytest.fixture(scope="session")
def reference(site: Path) -> ReferenceParser:
    page = site / QUESTIONS_PAGE
    assert page.is_file(), f"the build has no {QUESTIONS_PAGE}"
    return parse(page)


def test_site_builds_strictly(site: Path) -> None:
    assert (site / "index.html").is_file()
    assert not (site / "hooks").exists(), "the hook's source was published with the site"
    assert not (site / "data").exists(), "the explanations file was published with the site"


def test_value_markers_are_list_items(site: Path) -> None:
    """A value marker left inside a paragraph means the generated markdown lost its list."""
    page = (site / QUESTIONS_PAGE).read_text()
    assert "- <code data-question" not in page, "a value's list item was not parsed as one"


def test_every_question_is_documented(reference: ReferenceParser) -> None:
    text = normalize("".join(reference.text))
    problems = []
    for name, details in copier_questions().items():
        if name not in reference.ids:
            problems.append(f"{name}: no section (id={name!r})")
        help_text = normalize(str(details.get("help") or ""))
        if help_text and help_text not in text:
            problems.append(f"{name}: help text {help_text!r} not shown")
    assert not problems, "the question reference is missing:\n" + "\n".join(problems)


def test_every_offered_value_is_documented_as_offered(reference: ReferenceParser) -> None:
    shown = {
        (marker["data-question"], marker["data-value"])
        for marker in reference.values
        if marker.get("data-status") == "offered"
    }
    missing = [
        f"{name}={value}"
        for name, details in copier_questions().items()
        for value in offered_values(details)
        if (name, value) not in shown
    ]
    assert not missing, f"offered values missing from the question reference: {missing}"


def test_only_offered_values_are_shown_as_offered(reference: ReferenceParser) -> None:
    offered = {
        (name, value)
        for name, details in copier_questions().items()
        for value in offered_values(details)
    }
    problems = []
    for marker in reference.values:
        pair = (marker["data-question"], marker["data-value"])
        status = marker.get("data-status")
        if status == "offered" and pair not in offered:
            problems.append(f"{pair[0]}={pair[1]} is shown as offered; copier.yml lacks it")
        elif status == "planned" and pair in offered:
            problems.append(f"{pair[0]}={pair[1]} is offered but shown as planned")
        elif status not in {"offered", "planned"}:
            problems.append(f"{pair[0]}={pair[1]} has an unknown status {status!r}")
    assert not problems, "\n".join(problems)


def test_getting_started_uses_the_readme_command(site: Path) -> None:
    """The generate command in the docs is the one README.md promises; the pages may split it
    into its commands and continue a long line with a backslash, so none has to scroll."""
    readme = (TEMPLATE_ROOT / "README.md").read_text()
    match = re.search(r"```bash\n(.*?)\n```", readme, re.DOTALL)
    assert match, "README.md has no bash block"
    commands = [normalize(command) for command in match.group(1).split(" && ")]
    for page in (Path("index.html"), Path("getting-started") / "index.html"):
        html_page = (site / page).read_text()
        blocks = re.findall(r"<pre[^>]*>(.*?)</pre>", html_page, re.DOTALL)
        texts = [html.unescape(re.sub(r"<[^>]+>", "", block)) for block in blocks]
        shown = [
            normalize(line) for text in texts for line in re.sub(r"\\\n", "", text).splitlines()
        ]
        for command in commands:
            assert command in shown, f"{page} does not show README.md's command: {command}"
        longest = max(len(line) for text in texts for line in text.splitlines())
        assert longest <= 100, f"{page} has a {longest}-character line that scrolls"


def test_question_names_do_not_wrap(site: Path, reference: ReferenceParser) -> None:
    """The overview table's question names are styled to stay on one line."""
    page = (site / QUESTIONS_PAGE).read_text()
    names = re.findall(r'<a class="question-name" href="#([\w-]+)">', page)
    assert sorted(names) == sorted(copier_questions())
    assert "stylesheets/extra.css" in page
    style = (site / "stylesheets" / "extra.css").read_text()
    assert re.search(r"\.question-name code \{[^}]*white-space: nowrap", style)


# A file name or path as pages write them: `tests/test_docs.py`, `copier.yml`, `api/deps.py`.
FILE_NAME = re.compile(
    r"(?<![\w@:/.<>-])((?:[\w.<>-]+/)*[\w<>-][\w.<>-]*"
    r"\.(?:md|py|ya?ml|toml|json|ini|cfg|lock|sh|txt|mako))(?![\w/-])"
)
# Files pages name that no checkout holds, by page (the site path; "*": every page) and why.
# The paths of the 0.1.0 layout that the update step carrying edits of moved files knows.
MOVED_FROM = load_module(
    "carry_moved_edits", TEMPLATE_ROOT / "extensions" / "migrations" / "carry_moved_edits.py"
).MOVES
NAMED_BUT_NOT_SHIPPED = {
    # Written by `make install` in a generated project.
    "*": re.compile(r"(uv|poetry)\.lock"),
    # The `notes` domain the page walks the reader through adding.
    "project/extending": re.compile(r"(.+/)?(test_)?notes?\.py|app/notes/\w+\.py"),
    # The answers file the example house template writes into a project.
    "house-conventions": re.compile(r"\.copier-answers\.house\.yml"),
    # The production override the page writes.
    "deploying": re.compile(r"compose\.prod\.yaml"),
    # Files of the 0.1.0 layout, in the table of files that moved.
    "updating": re.compile("|".join(re.escape(path) for path in MOVED_FROM)),
}


def repository_paths() -> set[str]:
    """Every path of this checkout, with the generated project's too: each template file by
    the name it renders to (conditions dropped, `.jinja` removed), and every parent folder."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_ROOT,
        step="git ls-files",
    ).stdout
    paths: set[str] = set()
    for name in filter(None, listed.split("\0")):
        names = [name]
        if name.startswith("template/"):
            rendered = re.sub(r"\{%.*?%\}", "", name.removeprefix("template/"))
            rendered = rendered.replace("{{_copier_conf.answers_file}}", ".copier-answers.yml")
            names.append(re.sub(r"/+", "/", rendered.removesuffix(".jinja")).strip("/"))
        for path in names:
            parts = path.split("/")
            paths.update("/".join(parts[: end + 1]) for end in range(len(parts)))
    return paths


def test_pages_name_only_files_the_repository_has(site: Path) -> None:
    """A page that names DESIGN.md, or a file since renamed, sends readers nowhere."""
    known = repository_paths()
    problems = []
    for page in sorted(site.rglob("*.html")):
        where = page.parent.relative_to(site).as_posix().strip(".")
        allowed = [NAMED_BUT_NOT_SHIPPED["*"], NAMED_BUT_NOT_SHIPPED.get(where)]
        text = re.sub(r"https?://\S+", "", "".join(parse(page).text))
        for name in sorted(set(FILE_NAME.findall(text))):
            if "<" in name or any(rule and rule.fullmatch(name) for rule in allowed):
                continue
            if name not in known and not any(path.endswith(f"/{name}") for path in known):
                problems.append(f"{where or 'home'}: {name}")
    assert not problems, "pages name files this repository does not have:\n" + "\n".join(problems)


SYNTHETIC_COPIER_YML = """\
_subdirectory: template
name:
  type: str
  help: A name
color:
  type: str
  help: Pairs of label and value
  default: red
  choices:
    - [Red, red]
    - [Blue, blue]
size:
  type: int
  help: A plain list
  default: 1
  choices: [1, 2]
engine:
  type: str
  help: Choices that can be disabled
  default: a
  choices:
    Engine A: a
    Engine B:
      value: b
      validator: "{% if color == 'red' %}B needs blue.{% endif %}"
flavour:
  type: str
  help: Computed choices
  choices: "{{ ['x', 'y'] if color == 'red' else ['z'] }}"
  when: "{{ size > 1 }}"
  validator: "{% if flavour == 'y' and size == 2 %}y does not fit size 2.{% endif %}"
computed:
  type: str
  default: "{{ name }}-x"
  when: false
---
!include extra/*.yml
"""

SYNTHETIC_INCLUDE = """\
enabled:
  type: bool
  help: From an included file
  default: false
"""


def test_hook_reads_every_choice_form(tmp_path: Path) -> None:
    """The reference generator handles copier's choice forms, includes, documents and rules."""
    spec = importlib.util.spec_from_file_location(
        "docs_questions_hook", TEMPLATE_ROOT / "docs" / "hooks" / "questions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = hook  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(hook)

    (tmp_path / "copier.yml").write_text(SYNTHETIC_COPIER_YML)
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "more.yml").write_text(SYNTHETIC_INCLUDE)
    questions = hook.parse_questions(hook.load_copier_yml(tmp_path / "copier.yml"))
    names = [question.name for question in questions]
    assert names == ["name", "color", "size", "engine", "flavour", "computed", "enabled"]

    data = {"color": {"values": {"red": "Red things.", "green": {"design": "Planned green."}}}}
    markdown = hook.render_reference(questions, data)
    parser = ReferenceParser()
    parser.feed(markdown)
    markers = {(m["data-question"], m["data-value"], m["data-status"]) for m in parser.values}
    assert markers == {
        ("color", "red", "offered"),
        ("color", "blue", "offered"),
        ("color", "green", "planned"),
        ("size", "1", "offered"),
        ("size", "2", "offered"),
        ("engine", "a", "offered"),
        ("engine", "b", "offered"),
        ("enabled", "true", "offered"),
        ("enabled", "false", "offered"),
    }
    assert "No explanation yet" in markdown
    assert "B needs blue." in markdown
    assert "y does not fit size 2." in markdown
    assert "Copier computes the choices" in markdown
    assert "is asked only when <code>size &gt; 1</code>" in markdown
    assert "never; computed from the other answers" in markdown

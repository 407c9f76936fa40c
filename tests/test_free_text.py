"""Free-text answers: any one line a person can type renders files that parse and hold it.

The free-text questions (project name, description, author name and email) land in Python,
TOML, Markdown and comments; extensions/encoding.py encodes each value for its file. These tests
check the encoders on their own, render the template with generated answers (Hypothesis) and
parse every Python, TOML, YAML and JSON file of the result, and check that a line break or
another control character is refused with a sentence naming the question. The `adversarial`
variant of tests/harness/matrix.py takes such answers through the variant tier's own checks.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import time
import tomllib
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import copier
import pytest
from harness.files import iter_project_files, load_yaml_documents, read_text_file
from harness.interpreters import python_for
from harness.matrix import questions
from harness.processes import run, tool
from harness.rendering import VARIANTS, assert_refused_cleanly, copier_copy, normalize
from harness.template import TEMPLATE_ROOT, load_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The questions whose answer is one line of free text, and how their sentences name them.
FREE_TEXT_QUESTIONS = {
    "project_name": "project name",
    "project_slug": "project slug",
    "description": "description",
    "author_name": "author name",
    "author_email": "author email",
}
# Characters no file can hold in a one-line value, each with how the sentence names it.
REFUSED = {
    "\n": "a line break (U+000A)",
    "\r": "a carriage return (U+000D)",
    "\t": "a tab (U+0009)",
    "\x1b": "a control character (U+001B)",
    "\u2028": "a line separator (U+2028)",
}
# Text that means something in one of the files an answer lands in.
AWKWARD = [
    '"',
    "'",
    "\\",
    "\\n",
    "\\u00e9",
    "{{ name }}",
    "{{",
    "}}",
    "{% raw %}",
    "{%",
    "{#",
    "#",
    "%",
    "$",
    "${HOME}",
    "`",
    "<b>",
    "&amp;",
    "&",
    "*",
    "_",
    "[x](y)",
    "---",
    "1. ",
    "- ",
    "> ",
    "|",
    "~~",
    "Crème",
    "Łódź",
    "\u2019",
    "Москва",
    "日本語",
    "🚀",
    "👩‍💻",
    "\u00a0",
    "\u200b",
]
# A single line of text: any character but control characters, line and paragraph separators
# and surrogates (what the validators refuse).
LINE_CHARACTERS = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))


def line_text(min_size: int = 0) -> st.SearchStrategy[str]:
    piece = st.one_of(st.sampled_from(AWKWARD), st.text(LINE_CHARACTERS, max_size=12))
    return st.lists(piece, min_size=min_size, max_size=8).map("".join)


def named(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A name with a word in it, and anything around the word."""
    return st.tuples(text, st.sampled_from(["Acme", "Billing API", "Team"]), text).map(" ".join)


EMAIL_LOCAL_PART = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Zs"), exclude_characters="@"),
    min_size=1,
    max_size=20,
)
ANSWERS = st.fixed_dictionaries(
    {
        "project_name": named(line_text()),
        "description": line_text(),
        "author_name": named(line_text()),
        "author_email": EMAIL_LOCAL_PART.map(lambda local: f"{local}@example.com"),
    }
)


@pytest.fixture(scope="module")
def encoding() -> ModuleType:
    return load_module("template_extensions_encoding", TEMPLATE_ROOT / "extensions" / "encoding.py")


# ---------------------------------------------------------------- the encoders


@given(text=line_text(), column=st.integers(0, 60), indent=st.sampled_from([0, 4, 8]))
@settings(max_examples=300, deadline=None)
def test_python_string_reads_back(
    encoding: ModuleType, text: str, column: int, indent: int
) -> None:
    literal = encoding.python_string(text, column=column, indent=indent)
    assert ast.literal_eval(literal) == text.strip()
    lines = literal.splitlines()
    assert column + len(lines[0]) <= encoding.LINE_LENGTH or lines[0] == "("
    assert all(len(line) <= encoding.LINE_LENGTH for line in lines[1:])
    # Accented Latin letters stay; anything else outside ASCII is escaped (ruff's RUF001).
    assert all(ch.isascii() or ch.isalpha() for ch in literal)


# The generated project's settings for what a string literal can break.
RUFF_SETTINGS = """
[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "W", "RUF001"]
"""


@given(texts=st.lists(st.lists(line_text(), min_size=1, max_size=6).map(" ".join), min_size=1))
@settings(max_examples=30, deadline=None)
def test_python_string_is_as_ruff_formats_it(
    encoding: ModuleType, texts: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Short and long answers, at the columns the template uses, pass `ruff format --check`
    and `ruff check` (line length, ambiguous characters) as the project configures them."""
    folder = tmp_path_factory.mktemp("python-string")
    (folder / "pyproject.toml").write_text(RUFF_SETTINGS)
    lines = ["class Settings:"]
    for number, text in enumerate(texts):
        prefix = f"    field_{number}: str = "
        lines.append(prefix + encoding.python_string(text, column=len(prefix), indent=4))
    (folder / "settings.py").write_text("\n".join(lines) + "\n")
    run([tool("ruff"), "format", "--check", "--diff", "--no-cache", "."], cwd=folder)
    run([tool("ruff"), "check", "--no-cache", "."], cwd=folder)


def test_python_string_keeps_no_ambiguous_character(encoding: ModuleType, tmp_path: Path) -> None:
    """Every non-ASCII character python_string leaves unescaped, between ASCII letters (where
    ruff's RUF001 is strictest), passes ruff check."""
    # Only a character with a canonical decomposition can be kept: the others, first.
    characters = (chr(code) for code in range(0x80, 0x110000))
    decomposable = (
        ch
        for ch in characters
        if (decomposition := unicodedata.decomposition(ch)) and not decomposition.startswith("<")
    )
    kept = [ch for ch in decomposable if encoding.python_string(ch) == f'"{ch}"']
    assert "é" in kept
    assert "\u2019" not in kept
    (tmp_path / "pyproject.toml").write_text(RUFF_SETTINGS)
    lines = [
        f"kept_{number} = {encoding.python_string(f'a{ch}a')}" for number, ch in enumerate(kept)
    ]
    (tmp_path / "kept.py").write_text("\n".join(lines) + "\n")
    run([tool("ruff"), "check", "--no-cache", "."], cwd=tmp_path)


@given(text=line_text())
@settings(max_examples=300, deadline=None)
def test_toml_string_reads_back(encoding: ModuleType, text: str) -> None:
    assert tomllib.loads(f"value = {encoding.toml_string(text)}")["value"] == text.strip()


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("My Service", "My Service"),
        ('Acme "Billing" API', 'Acme "Billing" API'),
        ("*bold* _it_ `code` [a](b) <b>", r"\*bold\* \_it\_ \`code\` \[a\](b) \<b\>"),
        ("C# & F# $5 ~~old~~", r"C\# & F\# \$5 \~\~old\~\~"),
        ("R&D &amp; &#169;", r"R&D \&amp; &\#169;"),
        ("back\\slash", r"back\\slash"),
        ("1. First", r"1\. First"),
        ("2) Second", r"2\) Second"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("=== ", r"\==="),
        ("> quote", r"\> quote"),
        ("  Crème 🚀  ", "Crème 🚀"),
        ("{{ name }} {% raw %}", "{{ name }} {% raw %}"),
    ],
)
def test_markdown_text(encoding: ModuleType, text: str, markdown: str) -> None:
    assert encoding.markdown_text(text) == markdown


@pytest.mark.parametrize(("character", "description"), REFUSED.items())
def test_control_characters_are_named(
    encoding: ModuleType, character: str, description: str
) -> None:
    assert encoding.control_characters(f"Acme{character}API") == description
    assert encoding.control_characters("Acme “API” 🚀 {{ x }}") == ""


# Jinja that writes something: an expression, or a value set for one.
WRITING_JINJA = re.compile(r"\{\{.*?\}\}|\{%-?\s*set\b.*?%\}", re.DOTALL)
ENCODERS = ("python_string", "toml_string", "markdown_text", "comment_text")


def test_templates_write_free_text_through_an_encoder() -> None:
    """Every place a template writes a free-text answer passes it through a filter of
    extensions/encoding.py: found by reading the templates, not only by rendering them."""
    names = "|".join(name for name in FREE_TEXT_QUESTIONS if name != "project_slug")
    answer = re.compile(rf"(?<![\w.'\"])({names})\b(?!\s*\|\s*(?:{'|'.join(ENCODERS)})\b)")
    bare = []
    for path in sorted((TEMPLATE_ROOT / "template").rglob("*.jinja")):
        text = path.read_text()
        for block in WRITING_JINJA.finditer(text):
            if match := answer.search(block.group()):
                line = text.count("\n", 0, block.start()) + 1
                relative = path.relative_to(TEMPLATE_ROOT)
                bare.append(f"{relative}:{line}: {match.group(1)} in {block.group()!r}")
    assert not bare, "free-text answers written without an encoder:\n" + "\n".join(bare)


# ---------------------------------------------------------------- rendered projects


# Parses each file named on the command line, with the project's own Python version: the
# generated code uses syntax newer than this repository's interpreter (PEP 695 generics).
PARSE_PYTHON = """
import ast, sys
for name in sys.argv[1:]:
    try:
        ast.parse(open(name, encoding="utf-8").read(), name)
    except SyntaxError as error:
        print(f"{name}: SyntaxError: {error}")
"""


def parse_failures(project: Path, python: str) -> Iterator[str]:
    """Every Python (with `python`), TOML, YAML and JSON file of the project that does not
    parse."""
    sources = []
    for path in iter_project_files(project):
        text = read_text_file(path)
        if text is None:
            continue
        relative = path.relative_to(project)
        try:
            if path.suffix == ".py":
                sources.append(str(relative))
            elif path.suffix == ".toml":
                tomllib.loads(text)
            elif path.suffix in {".yml", ".yaml"}:
                load_yaml_documents(text)
            elif path.suffix == ".json":
                json.loads(text)
        except Exception as error:
            yield f"{relative}: {type(error).__name__}: {error}"
    assert sources, "no Python file rendered"
    parsed = run([python, "-c", PARSE_PYTHON, *sources], cwd=project, step="parse Python")
    yield from parsed.stdout.splitlines()


def settings_default(config: str, name: str) -> Any:
    """The default of a field of the Settings class in app/core/config.py."""
    for node in ast.walk(ast.parse(config)):
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            assert node.value is not None
            return ast.literal_eval(node.value)
    pytest.fail(f"app/core/config.py has no {name} setting", pytrace=False)


# Bounded so the render tier stays cheap: each example is one in-process render.
PROPERTY_EXAMPLES = 25


@pytest.fixture(scope="module")
def template_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's files outside git: Copier renders a plain directory as it is, where a
    git checkout with uncommitted changes is cloned and committed again for every render."""
    copy = tmp_path_factory.mktemp("template") / "template"
    copy.mkdir()
    shutil.copy2(TEMPLATE_ROOT / "copier.yml", copy)
    for folder in ("extensions", "template"):
        shutil.copytree(
            TEMPLATE_ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    return copy


def test_free_text_renders_files_that_parse(
    template_files: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Generated answers, each with the choices of a variant of the matrix, render projects
    whose every Python, TOML, YAML and JSON file parses and holds the answers as given."""
    rendered: list[str] = []
    started = time.monotonic()

    @given(answers=ANSWERS, variant=st.sampled_from(sorted(VARIANTS)))
    @settings(
        max_examples=PROPERTY_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    def renders(answers: dict[str, str], variant: str) -> None:
        project = tmp_path_factory.mktemp("free-text") / "project"
        copier.run_copy(
            str(template_files),
            project,
            data={**VARIANTS[variant], **answers, "project_slug": "free-text"},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
        version = VARIANTS[variant].get("python_version", questions()["python_version"]["default"])
        failures = list(parse_failures(project, python_for(version)))
        assert not failures, "files that do not parse:\n" + "\n".join(failures)

        # Each file holds the answer itself, not what its syntax made of it.
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        assert pyproject["description"] == answers["description"].strip()
        author = {"name": answers["author_name"].strip(), "email": answers["author_email"]}
        assert pyproject["authors"] == [author]
        config = (project / "app" / "core" / "config.py").read_text()
        assert settings_default(config, "project_name") == answers["project_name"].strip()
        recorded = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
        assert {name: recorded[name] for name in answers} == answers
        # ruff as the project runs it: line length, ambiguous characters, formatting.
        run([tool("ruff"), "check", "--no-cache", "."], cwd=project, step="ruff check")
        run([tool("ruff"), "format", "--check", "--no-cache", "."], cwd=project, step="ruff")
        rendered.append(variant)

    renders()
    seconds = time.monotonic() - started
    print(f"free-text answers: {len(rendered)} projects rendered and parsed in {seconds:.0f} s")
    # Hypothesis stops early only when it has no new examples to try; these never run out.
    assert len(rendered) >= PROPERTY_EXAMPLES


# ---------------------------------------------------------------- refused answers


@pytest.mark.parametrize(
    ("question", "character"),
    [
        *((question, "\n") for question in FREE_TEXT_QUESTIONS),
        ("project_name", "\u2028"),
        ("description", "\x1b"),
        ("author_name", "\t"),
    ],
    ids=lambda value: value.encode("unicode_escape").decode() if len(value) == 1 else value,
)
def test_control_character_is_refused(question: str, character: str, tmp_path: Path) -> None:
    value = {
        "author_email": f"team{character}@example.com",
        "project_slug": f"billing{character}",
    }.get(question, f"Acme{character}API")
    out, result = copier_copy(tmp_path, {question: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"copier accepted {question}={value!r}:\n{output[-3000:]}"
    sentence = (
        f"The {FREE_TEXT_QUESTIONS[question]} must be one line of text; "
        f"it contains {REFUSED[character]}."
    )
    assert normalize(sentence) in normalize(output), f"no refusal sentence:\n{output[-3000:]}"
    assert question in output, f"the output does not name {question}:\n{output[-3000:]}"
    assert_refused_cleanly(out, output)

"""Every wrong answer to every question is refused with one sentence that names the question.

The wrong values are generated from copier.yml: for a question with choices, a value that is
none of them and values of the wrong type; for a multiselect, a scalar, an unknown member and
wrong shapes; for a bool, words that are not true or false and wrong types; for text, wrong
types, and whichever of CANDIDATE_TEXTS the question's validator refuses. Each is given the
three ways Copier takes an answer: `-d`, `--data-file`, and the answers file that
`copier recopy` and `copier update` read. A question added to copier.yml is covered without an
edit here.

Each case runs Copier's command line in this process (`CopierApp.run`, what the `copier`
script runs; an exception escaping it is the traceback a user would see), from a copy of the
template outside git so nothing is cloned: 279 cases took 58 s on the 2-core test machine.
`test_refused_in_a_process` runs a few cases as real `copier` processes (about 4.5 s each).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from copier._cli import CopierApp
from harness.processes import clean_env, run
from harness.template import TEMPLATE_ROOT, load_copier_config

ROUTES = ("data", "data_file", "answers_file")

# Text answers tried on every question with a validator; each question must refuse one or more.
CANDIDATE_TEXTS = [
    "",
    "   ",
    "bad slug",
    "1service",
    "Billing_API",
    "billing-",
    "not-an-email",
    "a@b",
    "line one\nline two",
]

# A multiselect default or example, and a bool's refused words, as -d gives them (text).
REFUSED_BOOL_WORDS = ["maybe", "2", "", "yes please", "none"]


@dataclass(frozen=True)
class Case:
    question: str
    label: str
    value: Any  # the answer, as YAML gives it to --data-file and the answers file
    text: str | None  # the answer as typed after `-d question=`; None: -d cannot give it
    expected: tuple[str, ...]  # what the one sentence must contain besides the question's name
    routes: tuple[str, ...] = field(default=ROUTES)


def questions(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: details if isinstance(details, dict) else {"default": details}
        for name, details in config.items()
        if not name.startswith("_")
    }


def choice_values(details: dict[str, Any]) -> list[Any]:
    choices = details.get("choices") or []
    values = choices.values() if isinstance(choices, dict) else choices
    return [value["value"] if isinstance(value, dict) else value for value in values]


def jinja_environment(config: dict[str, Any]) -> jinja2.Environment:
    """A Jinja environment with copier.yml's envops and the template's own extensions."""
    envops = config.get("_envops", {})
    env = jinja2.Environment(
        trim_blocks=envops.get("trim_blocks", False),
        lstrip_blocks=envops.get("lstrip_blocks", False),
    )
    for entry in config.get("_jinja_extensions", []):
        path, _, class_name = entry.partition(":")
        if not (path.endswith(".py") and class_name):
            continue  # the loader of copier-template-extensions itself
        spec = importlib.util.spec_from_file_location(
            f"wrong_answers_{Path(path).stem}", TEMPLATE_ROOT / path
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        getattr(module, class_name)(env)
    return env


def default_answers(config: dict[str, Any], env: jinja2.Environment) -> dict[str, Any]:
    """Each question's default after the earlier questions' defaults, as Copier computes it."""
    answers: dict[str, Any] = {}
    for name, details in questions(config).items():
        default = details.get("default")
        if isinstance(default, str) and "{" in default:
            default = env.from_string(default).render(answers)
            if details.get("type") == "bool":
                default = default.strip() == "True"
        answers[name] = default
    return answers


def applies(details: dict[str, Any], answers: dict[str, Any], env: jinja2.Environment) -> bool:
    when = details.get("when", True)
    if isinstance(when, str):
        return env.from_string(when).render(answers).strip() in {"True", "true", "1", "yes"}
    return bool(when)


def refusal(
    env: jinja2.Environment, validator: str, answers: dict[str, Any], name: str, value: Any
) -> str:
    return env.from_string(validator).render({**answers, name: value}).strip()


def not_a_choice(values: list[Any]) -> str:
    text = "nope"
    while text in map(str, values):
        text += "-x"
    return text


def text_id(text: str) -> str:
    """A test id for a text answer."""
    if not text.strip():
        return "spaces" if text else "empty"
    return re.sub(r"[^A-Za-z0-9_@.-]+", "-", text).strip("-")


def flow(value: Any) -> str:
    """A value as YAML flow text, as a user types it after `-d name=`."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1_000)
        .strip()
        .removesuffix("...")
        .strip()
    )


def wrong_answers(config: dict[str, Any]) -> Iterator[Case]:
    env = jinja_environment(config)
    answers = default_answers(config, env)
    for name, details in questions(config).items():
        # Copier checks a -d or --data-file answer even where `when` is false, and drops an
        # answers-file answer of a question that does not apply (it would not be recorded).
        routes = ROUTES if applies(details, answers, env) else ("data", "data_file")
        values = choice_values(details)
        kind = details.get("type", "str")
        if values and details.get("multiselect"):
            members = tuple(map(str, values))
            for label, value, text in [
                ("a-scalar", values[0], str(values[0])),
                ("an-unknown-member", [values[0], not_a_choice(values)], None),
                ("a-mapping", {values[0]: True}, None),
                ("a-nested-list", [[values[0]]], None),
                ("a-number", 5, "5"),
                ("null", None, ""),
                ("broken-yaml", f"[{values[0]}", f"[{values[0]}"),
            ]:
                yield Case(
                    name,
                    label,
                    value,
                    flow(value) if text is None else text,
                    ("list", *members),
                    routes,
                )
        elif values:
            members = tuple(map(str, values))
            other = not_a_choice(values)
            yield Case(name, "not-a-choice", other, other, members, routes)
            if (upper := str(values[0]).upper()) not in members:
                yield Case(name, "wrong-case", upper, upper, members, routes)
            yield Case(name, "a-list", [values[0]], flow([values[0]]), members, routes)
            yield Case(name, "a-mapping", {values[0]: True}, None, members, routes)
            yield Case(name, "null", None, None, members, routes)
            yield Case(name, "a-number", 42, "42", members, routes)
        elif kind == "bool":
            expected = ("true or false",)
            for word in REFUSED_BOOL_WORDS:
                yield Case(name, f"word-{text_id(word)}", word, word, expected, routes)
            for label, value in [("a-list", [True]), ("a-mapping", {}), ("null", None)]:
                yield Case(name, label, value, None, expected, routes)
            yield Case(name, "a-number", 2, "2", expected, routes)
        else:
            for label, value in [("a-list", ["text"]), ("a-mapping", {"a": "b"}), ("null", None)]:
                yield Case(name, label, value, None, ("text",), routes)
            if validator := details.get("validator"):
                refused = [
                    (text, message)
                    for text in CANDIDATE_TEXTS
                    if (message := refusal(env, validator, answers, name, text))
                ]
                assert refused, (
                    f"copier.yml: the {name} validator refuses none of {CANDIDATE_TEXTS}; "
                    "add a value it must refuse to CANDIDATE_TEXTS"
                )
                for text, message in refused:
                    yield Case(name, f"refused-{text_id(text)}", text, text, (message,), routes)


CONFIG = load_copier_config()
CASES = list(wrong_answers(CONFIG))
PARAMS = [
    pytest.param(case, route, id=f"{case.question}-{case.label}-{route}")
    for case in CASES
    for route in case.routes
    if route != "data" or case.text is not None
]


@pytest.fixture(scope="session")
def template_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template's working tree outside git: Copier reads it in place, cloning nothing."""
    copy = tmp_path_factory.mktemp("template") / "template"
    shutil.copytree(
        TEMPLATE_ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "tests", "docs", "site", "__pycache__", ".*_cache"
        ),
    )
    return copy


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text)).strip()


def copier_cli(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run Copier's command line in this process: (exit code, output)."""
    output = io.StringIO()
    with (
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
        contextlib.chdir(cwd),
    ):
        try:
            _, code = CopierApp.run(["copier", *argv], exit=False)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except Exception:
            # What escapes Copier's CLI is printed to the user as a traceback.
            traceback.print_exc(file=output)
            code = 1
    return code, output.getvalue()


def give(case: Case, route: str, template: Path, tmp_path: Path) -> tuple[list[str], Path]:
    """The command line that gives the case's answer by `route`, and its destination."""
    out = tmp_path / "out"
    options = ["--quiet", "--trust", "--defaults"]
    if route == "data":
        assert case.text is not None
        return [
            "copy",
            *options,
            "-d",
            f"{case.question}={case.text}",
            str(template),
            str(out),
        ], out
    if route == "data_file":
        data = tmp_path / "answers.yml"
        data.write_text(yaml.safe_dump({case.question: case.value}))
        return ["copy", *options, "--data-file", str(data), str(template), str(out)], out
    out.mkdir()
    answers = {"_src_path": str(template), case.question: case.value}
    (out / ".copier-answers.yml").write_text(yaml.safe_dump(answers))
    return ["recopy", *options, "--overwrite", str(out)], out


def assert_refused(case: Case, route: str, code: int, output: str, out: Path) -> None:
    shown = f"{case.question}={case.value!r} by {route}"
    assert "Traceback" not in output, f"{shown}: a traceback instead of a sentence:\n{output}"
    assert code != 0, f"{shown} was accepted:\n{output[-2000:]}"
    # One line, unless the sentence quotes an answer that has line breaks.
    lines = [line for line in output.splitlines() if line.strip()]
    allowed = 1 + str(case.value).count("\n")
    assert len(lines) <= allowed, f"{shown}: not one sentence but {len(lines)} lines:\n{output}"
    sentence = normalize(output)
    assert sentence.endswith("."), f"{shown}: not a sentence: {sentence}"
    assert f"'{case.question}'" in sentence, (
        f"{shown}: the sentence names another question: {sentence}"
    )
    for part in case.expected:
        assert normalize(part) in sentence, f"{shown}: {part!r} not in: {sentence}"
    kept = {".copier-answers.yml"} if route == "answers_file" else set()
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    assert set(written) <= kept, f"{shown}: files written although refused: {written[:20]}"


@pytest.mark.parametrize(("case", "route"), PARAMS)
def test_wrong_answer_is_refused(
    case: Case, route: str, template_copy: Path, tmp_path: Path
) -> None:
    argv, out = give(case, route, template_copy, tmp_path)
    code, output = copier_cli(argv, tmp_path)
    assert_refused(case, route, code, output, out)


def test_every_question_is_covered() -> None:
    covered = {case.question for case in CASES}
    missing = sorted(set(questions(CONFIG)) - covered)
    assert not missing, f"questions with no wrong answer generated: {missing}"
    routes = {(case.question, route) for case in CASES for route in case.routes}
    for name in questions(CONFIG):
        assert (name, "data_file") in routes


@pytest.mark.parametrize("route", ROUTES)
def test_right_answers_are_taken_by_every_route(
    route: str, template_copy: Path, tmp_path: Path
) -> None:
    """The routes work: a valid answer given the same way renders (so a refusal is real)."""
    case = Case("package_manager", "valid", "poetry", "poetry", ())
    argv, out = give(case, route, template_copy, tmp_path)
    code, output = copier_cli(argv, tmp_path)
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    recorded = yaml.safe_load((out / ".copier-answers.yml").read_text())
    assert recorded["package_manager"] == "poetry"
    assert (out / "poetry.lock").exists() or "poetry" in (out / "pyproject.toml").read_text()


# A few cases as real processes of the `copier` script, from the git checkout (uncommitted
# changes included), as a user runs it.
PROCESS_CASES = [
    "package_manager-not-a-choice",
    "observability-a-scalar",
    "include_examples-word-maybe",
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case_id", PROCESS_CASES)
def test_refused_in_a_process(case_id: str, route: str, tmp_path: Path) -> None:
    case = next(case for case in CASES if f"{case.question}-{case.label}" == case_id)
    argv, out = give(case, route, TEMPLATE_ROOT, tmp_path)
    argv.insert(1, "--vcs-ref=HEAD")
    copier = [sys.executable, "-m", "copier"]
    result: subprocess.CompletedProcess[str] = run(
        [*copier, *argv], cwd=tmp_path, env=clean_env(NO_COLOR="1"), timeout=120, check=False
    )
    output = "\n".join(
        line
        for line in (result.stdout + result.stderr).splitlines()
        # Copier's notes about the checkout itself, not about the answer.
        if not re.search(r"DirtyLocalWarning|^\s*warn\(|No git tags found", line)
    )
    assert_refused(case, route, result.returncode, output, out)


def test_a_name_without_a_slug_needs_one(template_copy: Path, tmp_path: Path) -> None:
    """A name with no letter or digit gives no slug: refused until a slug is given."""
    out = tmp_path / "out"
    options = ["copy", "--quiet", "--trust", "--defaults", "-d", "project_name=!!!"]
    code, output = copier_cli([*options, str(template_copy), str(out)], tmp_path)
    assert code != 0, output[-3000:]
    assert normalize(output) == (
        "Validation error for question 'project_slug': No slug can be made from the project "
        'name "!!!"; give one, for example -d project_slug=billing-api.'
    )
    assert not out.exists() or not any(out.iterdir())

    options += ["-d", "project_slug=bang"]
    code, output = copier_cli([*options, str(template_copy), str(out)], tmp_path)
    assert code == 0, output[-3000:]
    assert yaml.safe_load((out / ".copier-answers.yml").read_text())["project_slug"] == "bang"

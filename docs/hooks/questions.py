"""mkdocs hook: the question reference, generated from copier.yml at every build.

`docs/questions.md` holds the hand-written parts of the page and the marker
`<!-- questions-reference -->`; this hook replaces the marker with the reference: every question
in copier.yml with its help text, type, default, `when:` condition and validators, and every
value it offers with its label. What a value generates is prose written by people, kept in
`docs/data/questions.yml` and keyed by question and value:

    orm:
      about: What the question controls (optional).
      values:
        sqlalchemy: What this value generates, checked against the template.
        sqlmodel:
          design: What it will generate, written before it exists (not checked yet).

A value copier.yml offers is listed as offered, with "No explanation yet" when the data file
has none; a value the data file explains but copier.yml does not offer is listed as planned.
Nothing here is maintained by hand, so the page cannot drift from copier.yml; tests/test_docs.py
builds the site and checks the HTML against copier.yml.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, TemplateSyntaxError, meta
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

PAGE = "questions.md"
MARKER = "<!-- questions-reference -->"
DATA_FILE = Path("data") / "questions.yml"  # relative to docs_dir

log = logging.getLogger("mkdocs.hooks.questions")

# `{% if cond %}message` or `{% elif cond %}message`, up to the next elif/else/endif.
RULE = re.compile(
    r"\{%-?\s*(?:el)?if\s+(?P<condition>.*?)\s*-?%\}(?P<message>.*?)"
    r"(?=\{%-?\s*(?:elif\b|else\b|endif\b))",
    re.DOTALL,
)
EXPRESSION = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)
INFERRED_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (list, "yaml"), (dict, "yaml"))


# ---------------------------------------------------------------- reading copier.yml


def load_copier_yml(path: Path) -> dict[str, Any]:
    """copier.yml as one mapping: its YAML documents merged, `!include` resolved as copier does
    (a glob relative to the template root)."""

    class Loader(yaml.SafeLoader):
        pass

    def include(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> list[Any]:
        pattern = str(loader.construct_scalar(node))
        documents: list[Any] = []
        for included in sorted(path.parent.glob(pattern)):
            documents.extend(doc for doc in yaml.load_all(included.read_text(), Loader) if doc)
        return documents

    Loader.add_constructor("!include", include)
    config: dict[str, Any] = {}
    for document in _flatten(yaml.load_all(path.read_text(), Loader)):
        if isinstance(document, dict):
            config.update(document)
    return config


def _flatten(items: Any) -> Iterator[Any]:
    for item in items:
        if isinstance(item, list):
            yield from _flatten(item)
        elif item:
            yield item


@dataclass
class Rule:
    """One branch of a validator: the condition that refuses an answer, and the sentence."""

    condition: str
    message: str
    names: frozenset[str]


@dataclass
class Choice:
    value: Any
    label: str | None
    rules: list[Rule] = field(default_factory=list)


@dataclass
class Question:
    name: str
    help: str
    type: str
    default: Any
    multiselect: bool
    secret: bool
    when: Any
    choices: list[Choice] | None
    dynamic_choices: str | None
    rules: list[Rule]
    raw_validator: str | None


def key(value: Any) -> str:
    """A value as the data file and the HTML name it: booleans as `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_rules(validator: Any, env: Environment) -> list[Rule]:
    if not isinstance(validator, str):
        return []
    rules = []
    for match in RULE.finditer(validator):
        condition = " ".join(match.group("condition").split())
        message = " ".join(match.group("message").split())
        if not message:
            continue
        try:
            names = meta.find_undeclared_variables(env.parse(f"{{{{ {condition} }}}}"))
        except TemplateSyntaxError:
            names = set()
        rules.append(Rule(condition, message, frozenset(names)))
    return rules


def parse_choices(raw: Any, env: Environment) -> list[Choice]:
    """copier's choice forms: a list of values, a list of [label, value] pairs, a mapping of
    label to value, or a mapping of label to {value, validator} (a choice that can be
    disabled)."""
    pairs: list[tuple[str | None, Any]]
    if isinstance(raw, dict):
        pairs = [(str(label), value) for label, value in raw.items()]
    else:
        pairs = [
            (str(item[0]), item[1]) if isinstance(item, list) and len(item) == 2 else (None, item)
            for item in raw
        ]
    choices = []
    for label, value in pairs:
        rules: list[Rule] = []
        if isinstance(value, dict) and "value" in value:
            rules = parse_rules(value.get("validator"), env)
            value = value["value"]
        choices.append(Choice(value, label, rules))
    return choices


def parse_questions(config: dict[str, Any]) -> list[Question]:
    env = Environment()
    found = []
    for name, details in config.items():
        if name.startswith("_"):
            continue
        if not isinstance(details, dict):
            details = {"default": details}
        default = details.get("default")
        qtype = details.get("type") or next(
            (label for kind, label in INFERRED_TYPES if isinstance(default, kind)), "str"
        )
        raw_choices = details.get("choices")
        choices = dynamic = None
        if isinstance(raw_choices, str):
            dynamic = raw_choices
        elif raw_choices:
            choices = parse_choices(raw_choices, env)
        elif qtype == "bool":
            choices = [Choice(True, None), Choice(False, None)]
        validator = details.get("validator")
        rules = parse_rules(validator, env)
        found.append(
            Question(
                name=name,
                help=" ".join(str(details.get("help") or "").split()),
                type=qtype,
                default=default,
                multiselect=bool(details.get("multiselect")),
                secret=bool(details.get("secret"))
                or name in (config.get("_secret_questions") or []),
                when=details.get("when"),
                choices=choices,
                dynamic_choices=dynamic,
                rules=rules,
                raw_validator=validator if isinstance(validator, str) and not rules else None,
            )
        )
    return found


# ---------------------------------------------------------------- the explanations


@dataclass
class Explanation:
    text: str
    checked: bool
    """True when written against the template's code; False when taken from the design."""


def load_explanations(path: Path, questions: list[Question]) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise PluginError(f"{path}: expected a mapping of question names")
    names = {question.name for question in questions}
    unknown = sorted(set(data) - names)
    if unknown:
        raise PluginError(f"{path} explains questions copier.yml does not have: {unknown}")
    return data


def value_entries(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The data file's entries for a question's values, keyed by `key(value)`."""
    entry = data.get(name)
    values = entry.get("values") if isinstance(entry, dict) else None
    return {key(value): text for value, text in (values or {}).items()}


def explanation(entry: Any) -> Explanation | None:
    if isinstance(entry, str) and entry.strip():
        return Explanation(entry.strip(), checked=True)
    if isinstance(entry, dict) and str(entry.get("design") or "").strip():
        return Explanation(str(entry["design"]).strip(), checked=False)
    return None


# ---------------------------------------------------------------- markdown


def code(value: Any) -> str:
    """Inline code for any text, also text with backticks or pipes (safe inside tables)."""
    text = html.escape(value if isinstance(value, str) else key(value), quote=False)
    return f"<code>{text.replace('|', '&#124;')}</code>"


def value_code(question: Question, value: Any, status: str, explained: bool) -> str:
    attributes = {
        "data-question": question.name,
        "data-value": key(value),
        "data-status": status,
        "data-explained": "true" if explained else "false",
    }
    rendered = " ".join(f'{name}="{html.escape(text)}"' for name, text in attributes.items())
    return f"<code {rendered}>{html.escape(key(value), quote=False)}</code>"


def sentence(message: str) -> str:
    """A validator's message as HTML, its Jinja expressions shown as code."""

    def text(part: str) -> str:
        escaped = html.escape(part, quote=False)
        return escaped.replace("*", "&#42;").replace("_", "&#95;").replace("|", "&#124;")

    parts = []
    position = 0
    for match in EXPRESSION.finditer(message):
        parts += [text(message[position : match.start()]), code(match.group(0))]
        position = match.end()
    parts.append(text(message[position:]))
    return "".join(parts)


def never_asked(question: Question) -> bool:
    """`when: false`: a value computed from the other answers, never asked."""
    return question.when is False or (
        isinstance(question.when, str) and question.when.strip().lower() == "false"
    )


def condition_text(when: Any) -> str:
    if isinstance(when, str):
        match = re.fullmatch(r"\s*\{\{\s*(.*?)\s*\}\}\s*", when, re.DOTALL)
        return " ".join((match.group(1) if match else when).split())
    return key(when)


def default_text(question: Question) -> str:
    default = question.default
    if default is None:
        return "none (an answer is required)" if question.type != "bool" else "`false`"
    if isinstance(default, str) and "{{" in default:
        return f"{code(default)}, computed from the answers before it"
    if question.multiselect and isinstance(default, list):
        return ", ".join(code(value) for value in default) if default else "nothing selected"
    if isinstance(default, str) and not default:
        return "empty"
    return code(default)


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.splitlines())


def cli_example(question: Question, value: Any) -> str:
    if question.multiselect:
        return f"-d '{question.name}=[{key(value)}]'"
    text = key(value)
    return f"-d {question.name}={text!r}" if " " in text else f"-d {question.name}={text}"


def render_value(
    question: Question, choice: Choice, status: str, entry: Any, is_default: bool
) -> str:
    found = explanation(entry)
    head = value_code(question, choice.value, status, found is not None)
    if is_default:
        head += " (default)"
    if choice.label is not None and choice.label != key(choice.value):
        head += f" · {html.escape(choice.label, quote=False)}"
    lines = [f"- {head}", ""]
    if found is None:
        body = (
            f"*No explanation yet.* Add one under `{question.name}.values.{key(choice.value)}` "
            "in `docs/data/questions.yml`."
        )
    elif found.checked or status == "planned":
        body = found.text
    else:
        body = f"{found.text}\n\n*Written before the value existed; not checked against the code.*"
    lines.append(indent(body))
    for rule in choice.rules:
        lines += ["", indent(f"Unavailable when {code(rule.condition)}: {sentence(rule.message)}")]
    # A blank line ends the item: without it the next item would continue this paragraph.
    return "\n".join([*lines, ""])


def render_rules(question: Question) -> list[str]:
    lines = []
    for rule in question.rules:
        lines.append(f"- **Refused** when {code(rule.condition)}: “{sentence(rule.message)}”")
    if question.raw_validator:
        raw = " ".join(question.raw_validator.split())
        lines.append(f"- **Validator** (not parsed): {code(raw)}")
    return lines


def render_question(question: Question, data: dict[str, Any]) -> str:
    entry = data.get(question.name) or {}
    explained = value_entries(data, question.name)
    lines = [f"### `{question.name}` {{#{question.name}}}", ""]
    lines += [f"> {html.escape(question.help, quote=False)}" if question.help else "> (no help)"]
    lines.append("")
    kind = f"`{question.type}`" + (", multiselect" if question.multiselect else "")
    facts = [f"- **Type:** {kind}", f"- **Default:** {default_text(question)}"]
    if never_asked(question):
        facts.append("- **Asked:** never; computed from the other answers")
    elif question.when is not None:
        facts.append(f"- **Asked:** only when {code(condition_text(question.when))}")
    if question.secret:
        facts.append("- **Secret:** not recorded in the answers file")
    facts += render_rules(question)
    lines += [*facts, ""]
    about = entry.get("about") if isinstance(entry, dict) else None
    if about:
        lines += [str(about).strip(), ""]

    if question.dynamic_choices is not None:
        lines += [
            f"Copier computes the choices when it asks: {code(question.dynamic_choices)}",
            "",
        ]
    if question.choices:
        offered_keys = {key(choice.value) for choice in question.choices}
        defaults = question.default if isinstance(question.default, list) else [question.default]
        default_keys = {key(value) for value in defaults if value is not None}
        lines += ["**Offered:**", ""]
        for choice in question.choices:
            lines.append(
                render_value(
                    question,
                    choice,
                    "offered",
                    explained.get(key(choice.value)),
                    key(choice.value) in default_keys,
                )
            )
        example = question.choices[-1].value
        lines += ["", f"On the command line: `{cli_example(question, example)}`.", ""]
        planned = [value for value in explained if value not in offered_keys]
        if planned:
            lines += ["**Planned** (explained in the docs, not offered by copier.yml yet):", ""]
            for value in planned:
                choice = Choice(value, None)
                lines.append(render_value(question, choice, "planned", explained[value], False))
            lines.append("")
    return "\n".join(lines)


def render_overview(questions: list[Question], data: dict[str, Any]) -> str:
    """One row a question; the "planned" column only while some value is planned. Names are
    links that never wrap (a `question-name` class, styled in stylesheets/extra.css)."""
    rows = []
    for question in questions:
        offered = [choice.value for choice in question.choices or []]
        offered_keys = {key(value) for value in offered}
        planned = [
            value for value in value_entries(data, question.name) if value not in offered_keys
        ]
        if question.dynamic_choices is not None:
            offered_text = "computed"
        elif offered:
            offered_text = ", ".join(code(value) for value in offered)
        else:
            offered_text = "free text"
        name = f'<a class="question-name" href="#{question.name}">{code(question.name)}</a>'
        rows.append([name, default_text(question), offered_text, ", ".join(map(code, planned))])
    header = ["question", "default", "offered", "planned"]
    if not any(row[3] for row in rows):
        header, rows = header[:3], [row[:3] for row in rows]
    lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def render_combinations(questions: list[Question]) -> str:
    names = {question.name for question in questions}
    conditions = []
    refusals = []
    for question in questions:
        link = f"[`{question.name}`](#{question.name})"
        if question.when is not None and not never_asked(question):
            conditions.append(
                f"- {link} is asked only when {code(condition_text(question.when))}; "
                "otherwise it has no answer."
            )
        for rule in question.rules:
            if rule.names & (names - {question.name}):
                refusals.append(
                    f"- {link} is refused when {code(rule.condition)}: “{sentence(rule.message)}”"
                )
        for choice in question.choices or []:
            for rule in choice.rules:
                refusals.append(
                    f"- {link} = {code(choice.value)} is unavailable when "
                    f"{code(rule.condition)}: “{sentence(rule.message)}”"
                )
    if not refusals:
        refusals.append(
            "- No validator in copier.yml compares the answers of different questions yet, so "
            "every combination of the offered values is accepted."
        )
    return "\n".join([*conditions, *refusals])


def render_reference(questions: list[Question], data: dict[str, Any]) -> str:
    unexplained = [
        f"{question.name}={key(choice.value)}"
        for question in questions
        for choice in question.choices or []
        if explanation(value_entries(data, question.name).get(key(choice.value))) is None
    ]
    if unexplained:
        # INFO, not WARNING: a value added to copier.yml must not fail the strict build.
        log.info("questions: no explanation yet for %s", ", ".join(unexplained))
    sections = [
        "## Overview",
        "",
        render_overview(questions, data),
        "",
        "## Refused combinations",
        "",
        render_combinations(questions),
        "",
        "## Questions",
        "",
        *(render_question(question, data) for question in questions),
    ]
    return "\n".join(sections)


# ---------------------------------------------------------------- mkdocs events


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{PAGE} must contain {MARKER} where the reference goes")
    root = Path(config.config_file_path).parent
    questions = parse_questions(load_copier_yml(root / "copier.yml"))
    data = load_explanations(Path(config.docs_dir) / DATA_FILE, questions)
    return markdown.replace(MARKER, render_reference(questions, data))

"""The variant matrix: named flagship variants plus a pairwise covering array.

The values come from copier.yml, so a value added there enters the matrix, and the coverage
test in test_matrix.py, without an edit here. A multiselect question becomes one yes/no
dimension per option. `allowed` encodes which combinations cannot exist; it must agree with the
`when:` conditions and validators in copier.yml.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import jinja2
import yaml
from allpairspy import AllPairs

from .template import TEMPLATE_ROOT

NOT_ASKED = "(not asked)"
"""The value of a question whose `when:` is false for the rest of the answers."""

FLAGSHIPS: dict[str, dict[str, Any]] = {
    "default": {},
    # Every optional part switched off: a stateless service without auth.
    "minimal": {
        "orm": "none",
        "auth": "none",
        "broker": "none",
        "cache": "none",
        "ci": "none",
        "observability": [],
    },
    # Every optional part switched on.
    "largest": {
        "deploy_target": "kubernetes",
        "observability": ["prometheus", "opentelemetry", "sentry"],
    },
    # The default choices with free-text answers that mean something in the files they land
    # in (Python, TOML, Markdown, YAML): quotes, backslashes, Jinja, comment and shell
    # characters, Markdown markup, non-ASCII letters and emoji.
    "adversarial": {
        "project_name": 'Acme "Billing" API \\ {{ name }} {% raw %} #1 $HOME `id` 100% Crème 🚀',
        "description": (
            "Bills & invoices: 'quotes', \"doubles\", back\\slash, {# note #}, 50% off, "
            "$PATH, `ls`, <b>tags</b> &amp; *stars*, Ünïcödé, 日本語, \u2019, 🚀 — done."
        ),
        "author_name": 'Team "A" O\'Brien \\ {{ team }} Łódź 🚀',
        "author_email": "o'brien+{{team}}@example.com",
    },
}


@cache
def questions() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    return {name: spec for name, spec in config.items() if not name.startswith("_")}


def choice_values(spec: Mapping[str, Any]) -> list[Any]:
    choices = spec["choices"]
    values = choices.values() if isinstance(choices, dict) else choices
    # A choice another answer can rule out is written {value: ..., validator: ...}.
    return [value["value"] if isinstance(value, dict) else value for value in values]


@cache
def dimensions() -> dict[str, list[Any]]:
    """Every question with a closed set of answers, as `name: values` (default first)."""
    found: dict[str, list[Any]] = {}
    for name, spec in questions().items():
        if spec.get("multiselect"):
            for option in choice_values(spec):
                found[f"{name}={option}"] = [
                    option in spec["default"],
                    option not in spec["default"],
                ]
        elif "choices" in spec:
            values = choice_values(spec)
            default = rendered_default(spec, {})
            found[name] = sorted(values, key=lambda value: value != default)
            if "when" in spec:
                found[name].append(NOT_ASKED)
        elif spec.get("type") == "bool":
            default = rendered_default(spec, {})
            found[name] = [default, not default]
            if "when" in spec:
                found[name].append(NOT_ASKED)
    return found


def allowed(row: Mapping[str, Any]) -> bool:
    """Whether a (possibly partial) combination can exist."""
    orm = row.get("orm")
    if orm is not None:
        # database and include_examples are asked exactly when there is an ORM.
        for asked_with_orm in ("database", "include_examples"):
            if asked_with_orm in row and (orm == "none") != (row[asked_with_orm] == NOT_ASKED):
                return False
        # JWT auth keeps its users in the database.
        if orm == "none" and row.get("auth") == "jwt":
            return False
    # The pods of a Deployment cannot share a SQLite file.
    return not (row.get("database") == "sqlite" and row.get("deploy_target") == "kubernetes")


def to_answers(row: Mapping[str, Any]) -> dict[str, Any]:
    """Copier answers for a full matrix row."""
    answers: dict[str, Any] = {}
    for dimension, value in row.items():
        name, _, option = dimension.partition("=")
        if option:
            answers.setdefault(name, [])
            if value:
                answers[name].append(option)
        elif value != NOT_ASKED:
            answers[name] = value
    return answers


def to_row(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The matrix row of a variant's answers (copier defaults filled in)."""
    row: dict[str, Any] = {}
    for dimension, values in dimensions().items():
        name, _, option = dimension.partition("=")
        spec = questions()[name]
        if option:
            row[dimension] = option in answers.get(name, spec["default"])
        elif name in answers:
            row[dimension] = answers[name]
        elif NOT_ASKED in values and not allowed({**row, dimension: values[0]}):
            row[dimension] = NOT_ASKED
        else:
            row[dimension] = rendered_default(spec, {**row, **answers})
    return row


def rendered_default(spec: Mapping[str, Any], answers: Mapping[str, Any]) -> Any:
    """The default copier gives a question after `answers` (earlier questions come first).

    With no answers, a templated default takes the value it has for the other defaults: an
    unanswered question renders as undefined, which equals no value.
    """
    default = spec["default"]
    if not (isinstance(default, str) and "{{" in default):
        return default
    rendered = jinja2.Environment(autoescape=False).from_string(default).render(answers)
    return rendered == "True" if spec.get("type") == "bool" else rendered


def _pairwise_rows() -> Iterator[dict[str, Any]]:
    # allpairspy's greedy search covers more pairs when the dimensions the constraints prune
    # (those with a not-asked value) come first, then the widest.
    names = sorted(
        dimensions(),
        key=lambda name: (NOT_ASKED not in dimensions()[name], -len(dimensions()[name])),
    )

    def partial_allowed(values: list[Any]) -> bool:
        return allowed(dict(zip(names, values, strict=False)))

    for values in AllPairs([dimensions()[name] for name in names], filter_func=partial_allowed):
        row = dict(zip(names, values, strict=True))
        yield {name: row[name] for name in dimensions()}


def _row_covering(
    pair: tuple[tuple[str, Any], tuple[str, Any]], missing: set[Any]
) -> dict[str, Any]:
    """An allowed row holding `pair`, each other value chosen to cover most `missing` pairs."""
    row = dict(pair)
    for dimension, values in dimensions().items():
        if dimension in row:
            continue
        candidates = [value for value in values if allowed({**row, dimension: value})]
        row[dimension] = max(
            candidates,
            key=lambda value: sum(
                ((dimension, value), other) in missing or (other, (dimension, value)) in missing
                for other in row.items()
            ),
        )
    return dict(sorted(row.items(), key=lambda item: list(dimensions()).index(item[0])))


@cache
def variants() -> dict[str, dict[str, Any]]:
    """Variant name -> copier answers: the flagships, then rows for the pairs they miss.

    allpairspy's greedy search can leave pairs out when constraints prune its choices, so the
    pairs it misses get rows of their own.
    """
    found = dict(FLAGSHIPS)
    covered = set().union(*(pairs(to_row(answers)) for answers in found.values()))
    rows = list(_pairwise_rows())
    for number, row in enumerate(rows, start=1):
        if pairs(row) - covered:
            found[f"pairwise-{number:02d}"] = to_answers(row)
            covered |= pairs(row)
    missing = valid_pairs() - covered
    number = len(rows)
    while missing:
        number += 1
        row = _row_covering(min(missing), missing)
        found[f"pairwise-{number:02d}"] = to_answers(row)
        missing -= pairs(row)
    return found


# The answers that change what a running stack holds: its services, processes and smoke test.
# Every variant's compose files are checked; the stack itself runs for stack_variants().
STACK_QUESTIONS = ("orm", "database", "auth", "broker", "cache", "package_manager")


@cache
def stack_variants() -> list[str]:
    """The flagships, then greedily the variants adding the most stack answers not yet run,
    until every value of every STACK_QUESTIONS question is in a stack that runs.

    A flagship with the same choices as an earlier one (`adversarial` has the default's, and
    differs only in free text) runs no stack of its own: its own tests run in the variant tier.
    """
    return covering_variants(STACK_QUESTIONS)


@cache
def covering_variants(questions: tuple[str, ...]) -> list[str]:
    """The flagships with distinct answers, then greedily the variants adding the most values
    of `questions` not yet held, until every value is in some chosen variant. A multiselect
    question counts by its options (`observability=sentry` on or off)."""
    rows = {name: to_row(answers) for name, answers in variants().items()}

    def values(name: str) -> set[tuple[str, Any]]:
        return {(key, value) for key, value in rows[name].items() if key.split("=")[0] in questions}

    chosen: list[str] = []
    for name in FLAGSHIPS:
        if rows[name] not in [rows[earlier] for earlier in chosen]:
            chosen.append(name)
    missing = set().union(*map(values, rows)) - set().union(*map(values, chosen))
    while missing:
        best = max(rows, key=lambda name: len(values(name) & missing))
        chosen.append(best)
        missing -= values(best)
    return chosen


def pairs(row: Mapping[str, Any]) -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    items = sorted(row.items(), key=lambda item: item[0])
    return {(first, second) for first, second in itertools.combinations(items, 2)}


def valid_pairs() -> set[tuple[tuple[str, Any], tuple[str, Any]]]:
    """Every pair of values that some allowed combination contains."""
    names = list(dimensions())
    found: set[tuple[tuple[str, Any], tuple[str, Any]]] = set()
    for values in itertools.product(*dimensions().values()):
        row = dict(zip(names, values, strict=True))
        if allowed(row):
            found |= pairs(row)
    return found

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
from pathlib import Path
from typing import Any

import yaml
from allpairspy import AllPairs

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
NOT_ASKED = "(not asked)"
"""The value of a question whose `when:` is false for the rest of the answers."""

FLAGSHIPS: dict[str, dict[str, Any]] = {
    "default": {},
    # Every optional part switched off.
    "minimal": {
        "broker": "none",
        "cache": "none",
        "ci": "none",
        "observability": [],
        "include_examples": False,
    },
    # Every optional part switched on.
    "largest": {
        "deploy_target": "kubernetes",
        "observability": ["prometheus", "opentelemetry", "sentry"],
    },
}


@cache
def questions() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((TEMPLATE_ROOT / "copier.yml").read_text())
    return {name: spec for name, spec in config.items() if not name.startswith("_")}


def _choice_values(spec: Mapping[str, Any]) -> list[Any]:
    choices = spec["choices"]
    return list(choices.values() if isinstance(choices, dict) else choices)


@cache
def dimensions() -> dict[str, list[Any]]:
    """Every question with a closed set of answers, as `name: values` (default first)."""
    found: dict[str, list[Any]] = {}
    for name, spec in questions().items():
        if spec.get("multiselect"):
            for option in _choice_values(spec):
                found[f"{name}={option}"] = [
                    option in spec["default"],
                    option not in spec["default"],
                ]
        elif "choices" in spec:
            values = _choice_values(spec)
            found[name] = sorted(values, key=lambda value: value != spec["default"])
            if "when" in spec:
                found[name].append(NOT_ASKED)
        elif spec.get("type") == "bool":
            found[name] = [spec["default"], not spec["default"]]
    return found


def allowed(row: Mapping[str, Any]) -> bool:
    """Whether a (possibly partial) combination can exist."""
    orm = row.get("orm")
    # database is asked exactly when there is an ORM; the examples need a database.
    if "database" in row and orm is not None and (orm == "none") != (row["database"] == NOT_ASKED):
        return False
    return not (orm == "none" and row.get("include_examples") is True)


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
            row[dimension] = values[0]
    return row


def _pairwise_rows() -> Iterator[dict[str, Any]]:
    names = list(dimensions())

    def partial_allowed(values: list[Any]) -> bool:
        return allowed(dict(zip(names, values, strict=False)))

    for values in AllPairs(list(dimensions().values()), filter_func=partial_allowed):
        yield dict(zip(names, values, strict=True))


@cache
def variants() -> dict[str, dict[str, Any]]:
    """Variant name -> copier answers: the flagships, then the pairwise rows they miss."""
    found = dict(FLAGSHIPS)
    covered = set().union(*(pairs(to_row(answers)) for answers in found.values()))
    for number, row in enumerate(_pairwise_rows(), start=1):
        if pairs(row) - covered:
            found[f"pairwise-{number:02d}"] = to_answers(row)
            covered |= pairs(row)
    return found


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

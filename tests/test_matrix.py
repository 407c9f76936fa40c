"""The matrix covers every value and every valid pair of values of copier.yml's questions."""

from __future__ import annotations

from typing import Any

from harness.matrix import (
    FLAGSHIPS,
    STACK_QUESTIONS,
    dimensions,
    pairs,
    questions,
    stack_variants,
    to_row,
    valid_pairs,
    variants,
)


def covered_pairs() -> set[Any]:
    return set().union(*(pairs(to_row(answers)) for answers in variants().values()))


def test_every_valid_pair_of_values_is_in_some_variant() -> None:
    missing = valid_pairs() - covered_pairs()
    assert not missing, f"{len(missing)} pairs no variant covers, e.g. {sorted(missing)[:5]}"


def test_every_offered_value_is_in_some_variant() -> None:
    possible = {value for pair in valid_pairs() for value in pair}
    covered = {value for pair in covered_pairs() for value in pair}
    assert possible <= covered, f"values no variant uses: {sorted(possible - covered)}"


def test_every_closed_question_is_a_dimension() -> None:
    closed = {
        name
        for name, spec in questions().items()
        if "choices" in spec or spec.get("type") == "bool"
    }
    assert closed == {dimension.partition("=")[0] for dimension in dimensions()}


def test_flagships_lead_and_variant_names_are_slugs() -> None:
    assert list(variants())[: len(FLAGSHIPS)] == list(FLAGSHIPS)
    for name in variants():
        assert name.replace("-", "").isalnum()
        assert name == name.lower()


def test_every_stack_answer_runs_in_some_stack() -> None:
    rows = [to_row(answers) for answers in variants().values()]
    offered = {(question, row[question]) for row in rows for question in STACK_QUESTIONS}
    run = {
        (question, to_row(variants()[name])[question])
        for name in stack_variants()
        for question in STACK_QUESTIONS
    }
    assert offered == run, f"answers no stack runs: {sorted(offered - run)}"

"""Refuse a wrong answer with one sentence that names its question, never with a traceback.

Copier shows a validator's message and asks again when a question is answered at the prompt.
An answer given with `-d`/`--data-file`, or recorded in the answers file that `copier update`
and `copier recopy` read, takes other paths, and there Copier (9.x):

- raises a bare `ValueError` for a validator's refusal, or a `TypeError` for a multiselect
  answer that is not a YAML list, which its CLI prints with a full traceback;
- casts any text to a bool (`include_examples=maybe` is true) and refuses a list or a null
  given to a text question with a message that names no question;
- silently drops an answers-file answer it cannot parse or validate and uses the question's
  default instead (`package_manager: pip` in `.copier-answers.yml` becomes `uv` on update).

This extension checks each answer's shape before Copier parses it (one of the choices; a YAML
list of choices; true or false; text), re-raises Copier's own refusals as a
`UserMessageError` (which the CLI prints as a plain message, exiting 1), and makes a refused
answers-file answer an error too, keeping `ValueError` as a base class for callers of Copier's
Python API. It wraps private methods of `copier._user_data.Question`: if a Copier release
renames them, the extension does nothing and tests/test_wrong_answers.py fails, naming the
regression.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import yaml
from copier.errors import UserMessageError
from jinja2 import Environment
from jinja2.ext import Extension

try:
    from copier._user_data import Question, parse_yaml_list
except ImportError:  # a Copier release that moved them: keep Copier's own behaviour
    Question = None
    parse_yaml_list = None


class InvalidAnswerError(UserMessageError, ValueError):
    """An answer that its question refuses."""


# What a bool question accepts besides true and false (Copier's YAML words, and 1/0).
BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "y", "n", "on", "off", "t", "f", "1", "0"})

# Errors raised while a refused answer is parsed, by question (id), until Copier asks whether
# to prompt for it: see `_refuse_dropped_answer`.
_DROPPED: dict[int, InvalidAnswerError] = {}


def shown(answer: Any) -> str:
    """The answer as the user wrote it, for a message."""
    if isinstance(answer, str):
        text = answer if len(answer) <= 60 else answer[:57] + "..."
        return json.dumps(text, ensure_ascii=False)
    try:
        return json.dumps(answer, ensure_ascii=False, default=str)
    except ValueError:
        return repr(answer)


def kind(answer: Any) -> str:
    if answer is None:
        return "null"
    if isinstance(answer, list | tuple):
        return "a list"
    if isinstance(answer, dict):
        return "a mapping"
    return f"a {type(answer).__name__}"


def refusal(question: Any, answer: Any, accepts: str) -> InvalidAnswerError:
    return InvalidAnswerError(
        f"Invalid answer {shown(answer)} for question '{question.var_name}': {accepts}."
    )


def choice_values(question: Any) -> list[Any]:
    return [question.cast_answer(choice.value) for choice in question._formatted_choices]


def listed(values: list[Any]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def check_shape(question: Any, answer: Any) -> None:
    """Refuse an answer whose type or shape its question cannot take, or no choice matches.

    A choice that a choice validator disables (auth "jwt" without an ORM) is left to Copier,
    which refuses it with that validator's sentence.
    """
    type_name = question.get_type_name()
    if question.choices:
        values = choice_values(question)
        if question.multiselect:
            example = f"[{', '.join(str(value) for value in values[:2])}]"
            accepts = (
                f"give a YAML list of any of {listed(values)}, such as "
                f"-d '{question.var_name}={example}' (or [] for none)"
            )
            items = answer
            if isinstance(answer, str):
                try:
                    items = parse_yaml_list(answer)
                except (TypeError, ValueError, yaml.YAMLError):
                    raise refusal(question, answer, f"not a list; {accepts}") from None
            if not isinstance(items, list):
                raise refusal(question, answer, f"{kind(answer)}, not a list; {accepts}")
            for item in items:
                if cast(question, item) not in values:
                    raise refusal(question, answer, f"{shown(item)} is not a choice; {accepts}")
            return
        if cast(question, answer) not in values:
            accepts = f"choose one of {listed(values)}"
            if isinstance(answer, float):
                accepts += f' (in YAML, quote a version: "{answer}" is text, {answer} a number)'
            raise refusal(question, answer, accepts)
        return
    if type_name == "bool":
        word = str(answer).strip().lower() if isinstance(answer, str | int) else None
        if not isinstance(answer, bool) and word not in BOOLEAN_WORDS:
            raise refusal(
                question, answer, "answer true or false (yes/no, on/off and 1/0 work too)"
            )
        return
    if type_name == "str" and not isinstance(answer, str | int | float):
        raise refusal(question, answer, f"give text, not {kind(answer)}")


def cast(question: Any, answer: Any) -> Any:
    """The answer cast to the question's type, or None when it cannot be."""
    if answer is None:
        return None
    try:
        return question.cast_answer(answer)
    except (TypeError, ValueError):
        return None


def _from_answers_file(question: Any) -> bool:
    answers = question.answers
    return question.var_name in answers.last and question.var_name not in answers.init


def _refuse_as_user_message(check: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(check)
    def checked(question: Any, answer: Any) -> Any:
        try:
            if check.__name__ == "parse_answer":
                check_shape(question, answer)
            return check(question, answer)
        except InvalidAnswerError as error:
            refused = error
        except (ValueError, TypeError, yaml.YAMLError) as error:
            refused = InvalidAnswerError(
                str(error) or f"Invalid answer {shown(answer)} for question '{question.var_name}'."
            )
        # Copier drops an answers-file answer that fails here and uses the default instead;
        # keep the refusal until Copier asks whether to prompt (`_refuse_dropped_answer`).
        if _from_answers_file(question):
            _DROPPED[id(question)] = refused
        raise refused from None

    return checked


def _refuse_dropped_answer(get_ask: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Raise the refusal of an answers-file answer that Copier has just dropped.

    Copier calls `get_ask` on each question right after it has tried that question's recorded
    answer; a recorded answer of a question that no longer applies (`when` false) is dropped
    quietly, as Copier omits it from the answers file anyway.
    """

    @functools.wraps(get_ask)
    def checked(question: Any) -> bool:
        refused = _DROPPED.pop(id(question), None)
        if refused is not None and question.get_when():
            raise refused
        return get_ask(question)

    return checked


# Question methods that check an answer given on the command line or in the answers file.
CHECKS = {
    "parse_answer": _refuse_as_user_message,
    "validate_answer": _refuse_as_user_message,
    "get_ask": _refuse_dropped_answer,
}


class AnswerErrors(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if parse_yaml_list is None:
            return
        for name, wrap in CHECKS.items():
            check = getattr(Question, name, None)
            # functools.wraps sets __wrapped__: a method is wrapped once however many renders.
            if check is not None and not hasattr(check, "__wrapped__"):
                setattr(Question, name, wrap(check))

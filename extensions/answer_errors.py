"""Report an invalid answer given with `--data`/`--data-file` as a sentence, not a traceback.

Copier shows a validator's message and asks again when a question is answered at the prompt,
but raises a bare `ValueError` for an answer passed on the command line, which its CLI prints
with a full traceback. This extension re-raises that error as a `UserMessageError` (which the
CLI prints as a plain message and exits 1), keeping `ValueError` as a base class for callers
of Copier's Python API. It wraps a private method: if a Copier release renames it, the
extension does nothing and tests/test_questions.py fails, naming the regression.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from copier.errors import UserMessageError
from jinja2 import Environment
from jinja2.ext import Extension

try:
    from copier._user_data import Question
except ImportError:  # a Copier release that moved it: keep Copier's own behaviour
    Question = None


class InvalidAnswerError(UserMessageError, ValueError):
    """An answer that fails its question's validator."""


def _reraise_as_user_message(validate: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(validate)
    def validate_answer(question: Any, answer: Any) -> None:
        try:
            validate(question, answer)
        except InvalidAnswerError:
            raise
        except ValueError as error:
            raise InvalidAnswerError(str(error)) from None

    return validate_answer


class AnswerErrors(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        validate = getattr(Question, "validate_answer", None)
        # functools.wraps sets __wrapped__: the method is wrapped once however many renders.
        if validate is not None and not hasattr(validate, "__wrapped__"):
            Question.validate_answer = _reraise_as_user_message(validate)

"""Report an invalid answer given with `--data`/`--data-file` as a sentence, not a traceback.

Copier shows a validator's message and asks again when a question is answered at the prompt,
but raises a bare `ValueError` for an answer passed on the command line (a validator's refusal,
or a choice that another answer rules out), which its CLI prints with a full traceback. This
extension re-raises that error as a `UserMessageError` (which the CLI prints as a plain message
and exits 1), keeping `ValueError` as a base class for callers of Copier's Python API. It wraps
private methods: if a Copier release renames them, the extension does nothing and
tests/test_questions.py fails, naming the regression.
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


# Question methods that check an answer given on the command line.
CHECKS = ("parse_answer", "validate_answer")


def _reraise_as_user_message(check: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(check)
    def checked(question: Any, answer: Any) -> Any:
        try:
            return check(question, answer)
        except InvalidAnswerError:
            raise
        except ValueError as error:
            raise InvalidAnswerError(str(error)) from None

    return checked


class AnswerErrors(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        for name in CHECKS:
            check = getattr(Question, name, None)
            # functools.wraps sets __wrapped__: a method is wrapped once however many renders.
            if check is not None and not hasattr(check, "__wrapped__"):
                setattr(Question, name, _reraise_as_user_message(check))

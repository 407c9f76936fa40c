"""The account emails, rendered from the templates in app/accounts/emails/ (see its README)."""

import html
from functools import cache
from pathlib import Path
from string import Template

from app.core.mail import EmailMessage

TEMPLATES = Path(__file__).parent / "emails"
SUBJECT_PREFIX = "Subject: "


@cache
def _templates(name: str) -> tuple[Template, Template, Template]:
    subject_line, _, body = (TEMPLATES / f"{name}.txt").read_text().partition("\n")
    if not subject_line.startswith(SUBJECT_PREFIX):
        message = f"{name}.txt must start with a {SUBJECT_PREFIX!r} line"
        raise ValueError(message)
    html_body = (TEMPLATES / f"{name}.html").read_text()
    subject = subject_line.removeprefix(SUBJECT_PREFIX)
    return Template(subject), Template(body), Template(html_body)


def greeting(full_name: str) -> str:
    return f"Hello {full_name}," if full_name else "Hello,"


def render(name: str, *, to: str, **values: str | int) -> EmailMessage:
    """The message `name` for `to`. A value holding a line break cannot reach a header: the
    mail backend refuses such a header (app/core/mail.py)."""
    subject, body, html_body = _templates(name)
    text_values = {key: str(value) for key, value in values.items()}
    return EmailMessage(
        to=to,
        subject=subject.substitute(text_values),
        body=body.substitute(text_values),
        html=html_body.substitute({key: html.escape(value) for key, value in text_values.items()}),
    )

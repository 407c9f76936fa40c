"""Jinja filters for names: slugs, Python identifiers and answer checks used by validators."""

from __future__ import annotations

import re
import unicodedata

from jinja2 import Environment
from jinja2.ext import Extension

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def slugify(value: str) -> str:
    """Turn free text into a slug: "My Billing API!" -> "my-billing-api".

    Empty when the text has no ASCII letter to start one ("!!!", "123"): copier.yml's
    project_slug validator then asks for a slug instead of inventing one.
    """
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = "-".join(words)
    return slug.lstrip("0123456789-")


def identifier(value: str) -> str:
    """Turn a slug into a Python identifier: "billing-api" -> "billing_api"."""
    return slugify(value).replace("-", "_")


def is_valid_slug(value: str) -> bool:
    return bool(SLUG_PATTERN.fullmatch(value))


def is_valid_email(value: str) -> bool:
    return bool(EMAIL_PATTERN.fullmatch(value.strip()))


class NamingFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["slugify"] = slugify
        environment.filters["identifier"] = identifier
        environment.filters["is_valid_slug"] = is_valid_slug
        environment.filters["is_valid_email"] = is_valid_email

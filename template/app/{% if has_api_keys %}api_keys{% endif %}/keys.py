"""API keys: how they are made and how they are recognised.

A key is shown once, when it is created, and only its SHA-256 digest is kept. A fast hash is
the right one here: the keys are 256 random bits, so there is nothing to guess a digest from,
and a slow password hash (bcrypt, argon2) would cost every request its time.
"""

import hashlib
import secrets
from dataclasses import dataclass

from app.core.errors import UnauthorizedError

API_KEY_HEADER = "X-API-Key"
KEY_PREFIX = "ak_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8
"""The visible start of a key (`ak_` and 8 characters), kept to tell keys apart."""


class ApiKeyError(UnauthorizedError):
    challenge = f'APIKey header="{API_KEY_HEADER}"'


@dataclass(frozen=True)
class NewApiKey:
    key: str
    prefix: str
    digest: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewApiKey(key=key, prefix=key[:PREFIX_LENGTH], digest=digest(key))


def require_key(key: str | None) -> str:
    if not key:
        msg = f"Send an API key in the {API_KEY_HEADER} header."
        raise ApiKeyError(msg, code="not_authenticated")
    return key


def invalid_api_key() -> ApiKeyError:
    """Unknown and revoked keys get the same answer: a caller learns nothing from it."""
    return ApiKeyError("The API key is not valid.", code="invalid_api_key")

"""Password hashing (Argon2) and JSON Web Tokens."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from anyio import CapacityLimiter, to_thread
from pwdlib import PasswordHash
from pydantic import BaseModel, ValidationError

from app.core.config import Settings
from app.core.errors import UnauthorizedError

ALGORITHM = "HS256"
TokenKind = Literal["access", "refresh"]

password_hash = PasswordHash.recommended()
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = password_hash.hash("not-a-real-password")


class TokenClaims(BaseModel):
    sub: uuid.UUID
    type: TokenKind
    jti: uuid.UUID
    exp: datetime
    family: uuid.UUID | None = None


# Argon2 spends a fifth of a second of CPU and 64 MiB per hash by design. Hashing runs in a
# worker thread (it releases the GIL), so the event loop keeps serving other requests, and
# one hash at a time per process, so a burst of logins queues instead of multiplying memory.
_hashing = CapacityLimiter(1)


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(password_hash.hash, password, limiter=_hashing)


def _verify(password: str, hashed: str | None) -> bool:
    if hashed is None:
        password_hash.verify(password, _DUMMY_HASH)
        return False
    return password_hash.verify(password, hashed)


async def verify_password(password: str, hashed: str | None) -> bool:
    return await to_thread.run_sync(_verify, password, hashed, limiter=_hashing)


def create_token(
    settings: Settings,
    *,
    subject: uuid.UUID,
    kind: TokenKind,
    token_id: uuid.UUID,
    expires_at: datetime,
    family: uuid.UUID | None = None,
) -> str:
    claims: dict[str, object] = {
        "sub": str(subject),
        "type": kind,
        "jti": str(token_id),
        "iat": datetime.now(UTC),
        "exp": expires_at,
    }
    if family is not None:
        claims["family"] = str(family)
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def access_token_expiry(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=settings.access_token_expire_minutes)


def refresh_token_expiry(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(days=settings.refresh_token_expire_days)


def decode_token(settings: Settings, token: str, *, expected_type: TokenKind) -> TokenClaims:
    """Decode and verify a token; any problem is an `UnauthorizedError` error."""
    try:
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "jti", "type"]},
        )
        claims = TokenClaims.model_validate(payload)
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("The token has expired.", code="token_expired") from exc
    except (jwt.InvalidTokenError, ValidationError) as exc:
        raise UnauthorizedError("The token is invalid.", code="token_invalid") from exc
    if claims.type != expected_type:
        raise UnauthorizedError(f"An {expected_type} token is required.", code="token_invalid")
    return claims

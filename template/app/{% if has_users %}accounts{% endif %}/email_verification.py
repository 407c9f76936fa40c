"""Email verification: a signed, expiring link proves the user reads the address.

The link's token is a JWT signed with SECRET_KEY, of its own type (never accepted as an access
or refresh token), naming the user and the address it was sent to. Nothing is stored but
`email_verified_at`: the token stops working once the user's address changes, and after
EMAIL_VERIFICATION_EXPIRE_HOURS. It is sent at sign-up, on request (`resend`), and to the new
address when the address changes, which makes it unverified again.
"""

import uuid
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.messages import greeting, render
from app.accounts.models import User
from app.accounts.repository import UserRepository
from app.core.config import Settings
from app.core.errors import AppError
from app.core.mail import EmailMessage
from app.core.security import ALGORITHM

# The `type` claim of verification tokens: no other token type is accepted in their place.
PURPOSE = "email_verification"


class InvalidVerificationTokenError(AppError):
    code = "verification_token_invalid"


class VerificationClaims(BaseModel):
    sub: uuid.UUID
    email: str


def verification_token(settings: Settings, user: User) -> str:
    expires_at = datetime.now(UTC) + timedelta(hours=settings.email_verification_expire_hours)
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user.id),
        "type": PURPOSE,
        "email": user.email,
        "exp": expires_at,
    }
    return jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)


def _decode(settings: Settings, token: str) -> VerificationClaims:
    try:
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["iss", "aud", "sub", "exp", "type", "email"]},
        )
        if payload["type"] != PURPOSE:
            raise jwt.InvalidTokenError
        return VerificationClaims.model_validate(payload)
    except jwt.ExpiredSignatureError as exc:
        raise InvalidVerificationTokenError(
            "The verification link has expired; ask for a new one.",
            code="verification_token_expired",
        ) from exc
    except (jwt.InvalidTokenError, ValidationError) as exc:
        raise InvalidVerificationTokenError("The verification link is not valid.") from exc


def verification_email(settings: Settings, user: User, *, template: str) -> EmailMessage:
    """The email carrying `user`'s verification link: `welcome` at sign-up, else
    `verify_email`."""
    token = verification_token(settings, user)
    return render(
        template,
        to=user.email,
        greeting=greeting(user.full_name),
        project_name=settings.project_name,
        link=f"{settings.frontend_url.rstrip('/')}/verify-email?token={token}",
        expire_hours=settings.email_verification_expire_hours,
    )


class EmailVerificationService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.users = UserRepository(session)

    async def confirm(self, token: str) -> None:
        """Mark the address the token was sent to verified; again is no error."""
        claims = _decode(self.settings, token)
        user = await self.users.get(claims.sub)
        if user is None or user.email != claims.email:
            raise InvalidVerificationTokenError(
                "The verification link is for an address this account no longer uses."
            )
        if user.email_verified_at is None:
            user.email_verified_at = datetime.now(UTC)
            await self.session.commit()

    async def awaiting_verification(self, email: str) -> User | None:
        """The active, unverified account with this address, or None."""
        user = await self.users.get_by_email(email)
        await self.session.commit()
        if user is None or not user.is_active or user.email_verified_at is not None:
            return None
        return user

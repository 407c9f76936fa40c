"""Login and refresh-token rotation.

Every login starts a token *family*. Refreshing revokes the presented token and issues a new
one in the same family. Presenting a revoked token again means it was stolen or replayed, so
the whole family is revoked and both parties must log in again.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.errors import UnauthorizedError
from app.core.security import (
    access_token_expiry,
    create_token,
    decode_token,
    refresh_token_expiry,
    verify_password,
)
from app.models.user import RefreshToken, User
from app.repositories.refresh_tokens import RefreshTokenRepository
from app.repositories.users import UserRepository
from app.schemas.auth import TokenPair


async def purge_expired_refresh_tokens(session: AsyncSession) -> int:
    """Delete refresh tokens past their expiry; returns how many. Safe to run any time."""
    deleted = await RefreshTokenRepository(session).delete_expired(datetime.now(UTC))
    await session.commit()
    return deleted


class AuthService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.users = UserRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    async def login(self, email: str, password: str) -> TokenPair:
        user = await self.users.get_by_email(email)
        # Hashes are computed one at a time, so this may queue behind other logins: end the
        # read transaction first, so the wait holds no pooled connection other requests need.
        await self.session.commit()
        # The hash is checked even for an unknown email, so response time does not tell.
        password_ok = await verify_password(password, user.hashed_password if user else None)
        if user is None or not password_ok:
            raise UnauthorizedError("Incorrect email or password.", code="invalid_credentials")
        if not user.is_active:
            raise UnauthorizedError("This account is disabled.", code="inactive_user")
        tokens = await self._issue(user, family_id=uuid.uuid4())
        await self.session.commit()
        return tokens

    async def refresh(self, refresh_token: str) -> TokenPair:
        claims = decode_token(self.settings, refresh_token, expected_type="refresh")
        stored = await self.refresh_tokens.get_for_update(claims.jti)
        if stored is None:
            raise UnauthorizedError("The refresh token is not recognised.", code="token_invalid")
        now = datetime.now(UTC)
        if stored.revoked_at is not None:
            await self.refresh_tokens.revoke_family(stored.family_id, at=now)
            await self.session.commit()
            raise UnauthorizedError(
                "The refresh token was already used; all sessions from that login are revoked.",
                code="token_reused",
            )
        user = await self.users.get(stored.user_id)
        if user is None or not user.is_active:
            raise UnauthorizedError("This account is disabled.", code="inactive_user")
        stored.revoked_at = now
        tokens = await self._issue(user, family_id=stored.family_id)
        await self.session.commit()
        return tokens

    async def logout(self, refresh_token: str) -> None:
        claims = decode_token(self.settings, refresh_token, expected_type="refresh")
        stored = await self.refresh_tokens.get_for_update(claims.jti)
        if stored is not None:
            await self.refresh_tokens.revoke_family(stored.family_id, at=datetime.now(UTC))
            await self.session.commit()

    async def authenticate(self, access_token: str) -> User:
        claims = decode_token(self.settings, access_token, expected_type="access")
        user = await self.users.get(claims.sub)
        if user is None or not user.is_active:
            raise UnauthorizedError(
                "The user no longer exists or is disabled.", code="inactive_user"
            )
        return user

    async def _issue(self, user: User, *, family_id: uuid.UUID) -> TokenPair:
        refresh = await self.refresh_tokens.add(
            RefreshToken(
                id=uuid.uuid4(),
                user_id=user.id,
                family_id=family_id,
                expires_at=refresh_token_expiry(self.settings),
            )
        )
        access_expires_at = access_token_expiry(self.settings)
        return TokenPair(
            access_token=create_token(
                self.settings,
                subject=user.id,
                kind="access",
                token_id=uuid.uuid4(),
                expires_at=access_expires_at,
            ),
            refresh_token=create_token(
                self.settings,
                subject=user.id,
                kind="refresh",
                token_id=refresh.id,
                expires_at=refresh.expires_at,
                family=family_id,
            ),
            expires_in=self.settings.access_token_expire_minutes * 60,
        )

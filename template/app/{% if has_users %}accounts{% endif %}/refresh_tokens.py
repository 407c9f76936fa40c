import uuid
from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import RefreshToken
from app.core.models import col


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get_for_update(self, token_id: uuid.UUID) -> RefreshToken | None:
        """Lock the row so two concurrent refreshes of one token cannot both succeed."""
        return await self.session.get(RefreshToken, token_id, with_for_update=True)

    async def revoke_family(self, family_id: uuid.UUID, *, at: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=at)
        )

    async def delete_expired(self, now: datetime) -> int:
        result = await self.session.execute(
            delete(RefreshToken).where(col(RefreshToken.expires_at) < now)
        )
        return int(getattr(result, "rowcount", 0))

import asyncio

from app.core.celery_app import celery_app
from app.core.config import get_settings
from app.core.database import standalone_session
from app.services.auth import purge_expired_refresh_tokens as purge


async def _purge_expired_refresh_tokens() -> int:
    async with standalone_session(get_settings()) as session:
        return await purge(session)


@celery_app.task
def purge_expired_refresh_tokens() -> int:
    """Periodic (see beat_schedule): delete refresh tokens past their expiry. Idempotent."""
    return asyncio.run(_purge_expired_refresh_tokens())

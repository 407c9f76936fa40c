import asyncio
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError

from app.core.celery_app import celery_app
from app.core.config import get_settings
from app.core.database import standalone_session
from app.services.notifications import send_welcome_email_once


async def _send_welcome_email(user_id: uuid.UUID) -> bool:
    settings = get_settings()
    async with standalone_session(settings) as session:
        return await send_welcome_email_once(session, user_id, project_name=settings.project_name)


@celery_app.task(
    autoretry_for=(OSError, OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_welcome_email(user_id: str) -> bool:
    """Send the welcome email once; False when it was sent already or the user is gone."""
    return asyncio.run(_send_welcome_email(uuid.UUID(user_id)))

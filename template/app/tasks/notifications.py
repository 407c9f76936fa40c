import redis

from app.core.celery_app import celery_app
from app.core.config import get_settings
from app.core.mail import EmailMessage, send_email

SENT_MARKER_TTL_SECONDS = 7 * 24 * 3600


@celery_app.task(
    autoretry_for=(ConnectionError, TimeoutError, redis.RedisError),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
)
def send_welcome_email(user_id: str, email: str, full_name: str) -> bool:
    """Send the welcome email once per user; returns False when it was already sent."""
    settings = get_settings()
    marker = f"welcome-email-sent:{user_id}"
    with redis.Redis.from_url(settings.redis_url) as client:
        if client.exists(marker):
            return False
        greeting = f"Hello {full_name}," if full_name else "Hello,"
        send_email(
            EmailMessage(
                to=email,
                subject=f"Welcome to {settings.project_name}",
                body=f"{greeting}\n\nyour account is ready.",
            )
        )
        client.set(marker, "1", ex=SENT_MARKER_TTL_SECONDS)
    return True

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from kombu.exceptions import OperationalError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.models.user import RefreshToken, User
from app.repositories.refresh_tokens import RefreshTokenRepository
from app.tasks.notifications import send_welcome_email
from tests.factories import create_user


async def test_signup_sends_the_welcome_email_once(client: AsyncClient, redis: Redis) -> None:
    # Tasks run eagerly in these tests (CELERY_TASK_ALWAYS_EAGER, see tests/environment.py).
    response = await client.post(
        "/api/v1/auth/signup", json={"email": "welcome@example.com", "password": "long-enough"}
    )
    user_id = response.json()["id"]
    assert await redis.exists(f"welcome-email-sent:{user_id}")

    redelivered = send_welcome_email.apply(args=(user_id, "welcome@example.com", "")).get()
    assert redelivered is False


async def test_welcome_email_is_sent_for_a_new_user(redis: Redis) -> None:
    user_id = str(uuid.uuid4())
    assert send_welcome_email.apply(args=(user_id, "a@example.com", "A")).get() is True
    assert await redis.get(f"welcome-email-sent:{user_id}") == "1"


async def test_expired_refresh_tokens_are_purged(db_session: AsyncSession) -> None:
    user: User = await create_user(db_session)
    now = datetime.now(UTC)
    expired, current = (
        RefreshToken(user_id=user.id, family_id=uuid.uuid4(), expires_at=now + offset)
        for offset in (timedelta(seconds=-1), timedelta(days=1))
    )
    db_session.add_all([expired, current])
    await db_session.flush()

    assert await RefreshTokenRepository(db_session).delete_expired(now) >= 1
    db_session.expunge_all()
    assert await db_session.get(RefreshToken, expired.id) is None
    assert await db_session.get(RefreshToken, current.id) is not None


async def test_signup_succeeds_when_the_broker_is_down(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(*_: object, **__: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(send_welcome_email, "delay", broker_down)
    response = await client.post(
        "/api/v1/auth/signup", json={"email": "offline@example.com", "password": "long-enough"}
    )
    assert response.status_code == 201

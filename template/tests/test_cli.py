from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.core.config import Settings
from app.repositories.users import UserRepository


@pytest.fixture
def cli_settings(
    settings: Settings, db_session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Run the command inside the test's transaction, with a superuser configured."""

    @asynccontextmanager
    async def session_in_test_transaction(_: Settings) -> AsyncIterator[AsyncSession]:
        yield db_session

    configured = settings.model_copy(
        update={
            "first_superuser_email": "root@example.com",
            "first_superuser_password": SecretStr("root-password-123"),
        }
    )
    monkeypatch.setattr(cli, "standalone_session", session_in_test_transaction)
    monkeypatch.setattr(cli, "get_settings", lambda: configured)
    return configured


async def test_create_superuser_is_idempotent(
    cli_settings: Settings, db_session: AsyncSession
) -> None:
    assert await cli.create_superuser() == "Superuser root@example.com created."
    assert await cli.create_superuser() == "Superuser root@example.com already exists."
    user = await UserRepository(db_session).get_by_email("root@example.com")
    assert user is not None
    assert user.is_superuser


async def test_create_superuser_needs_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset = settings.model_copy(
        update={"first_superuser_email": None, "first_superuser_password": None}
    )
    monkeypatch.setattr(cli, "get_settings", lambda: unset)
    assert "not set" in await cli.create_superuser()


async def test_purge_expired_tokens_reports_the_count(
    cli_settings: Settings, db_session: AsyncSession
) -> None:
    assert await cli.purge_expired_tokens() == "Deleted 0 expired refresh tokens."

"""Fixtures: the real PostgreSQL and Redis, with test databases (see tests/environment.py).

The suite creates the test database when it is missing and migrates it to head. Each test runs
inside a transaction that is rolled back at the end, so tests never see each other's rows and
nothing has to be wiped.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from app.api.deps import get_session
from app.core.config import Settings, get_settings
from app.main import create_app
from app.models.user import User
from tests.factories import create_user
from tests.helpers import bearer, login, service_unavailable


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


async def _create_database_if_missing(url: URL) -> None:
    admin = create_async_engine(
        url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with admin.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
            )
            if not exists:
                quoted = admin.dialect.identifier_preparer.quote(str(url.database))
                await connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    url = make_url(settings.database_url)
    try:
        await _create_database_if_missing(url)
    except (OSError, TimeoutError) as exc:
        service_unavailable(f"PostgreSQL at {url.host}:{url.port}", exc)
    config = Config("alembic.ini")
    config.attributes["configure_logger"] = False
    # env.py runs its own event loop, so it gets a thread without one.
    await asyncio.to_thread(command.upgrade, config, "head")
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        await client.ping()
    except (OSError, ConnectionError) as exc:
        service_unavailable(f"Redis at {settings.redis_url}", exc)
    yield client
    await client.aclose()


@pytest.fixture
async def db_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
async def app(settings: Settings, db_session: AsyncSession, redis: Redis) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    application.dependency_overrides[get_session] = lambda: db_session
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as http_client:
        yield http_client


@pytest.fixture
async def user(db_session: AsyncSession) -> User:
    return await create_user(db_session)


@pytest.fixture
async def superuser(db_session: AsyncSession) -> User:
    return await create_user(db_session, is_superuser=True)


@pytest.fixture
async def user_headers(client: AsyncClient, user: User) -> dict[str, str]:
    return bearer((await login(client, user.email)).access_token)


@pytest.fixture
async def superuser_headers(client: AsyncClient, superuser: User) -> dict[str, str]:
    return bearer((await login(client, superuser.email)).access_token)

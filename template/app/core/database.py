"""Async SQLAlchemy engine and session factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.core.config import Settings


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    """Build the engine; pool sizes and timeouts come from settings.

    Processes outside the API (Celery tasks, commands) use `pooled=False`: each task runs its
    own event loop, and pooled asyncpg connections cannot cross event loops.
    """
    pool_options: dict[str, Any] = (
        {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_seconds,
            "pool_recycle": settings.db_pool_recycle_seconds,
            "pool_pre_ping": True,
        }
        if pooled
        else {"poolclass": NullPool}
    )
    return create_async_engine(
        settings.database_url,
        connect_args={
            "timeout": settings.db_connect_timeout_seconds,
            "server_settings": {"statement_timeout": str(settings.db_statement_timeout_ms)},
        },
        echo=settings.db_echo,
        **pool_options,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def standalone_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session on a short-lived engine, for tasks and commands outside the API process."""
    engine = create_engine(settings, pooled=False)
    try:
        async with create_session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()

"""Readiness checks of the services the API depends on, run concurrently with a time limit."""

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping

import structlog
from celery import Celery
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[object]]


def database_check(engine: AsyncEngine) -> Check:
    async def check() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return check


def redis_check(redis: Redis) -> Check:
    async def check() -> None:
        await redis.ping()

    return check


def broker_check(celery: Celery, timeout_seconds: float) -> Check:
    def connect() -> None:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=math.ceil(timeout_seconds))

    async def check() -> None:
        await asyncio.to_thread(connect)

    return check


async def run_checks(checks: Mapping[str, Check], *, timeout_seconds: float) -> dict[str, str]:
    """Map each check's name to "ok" or "unavailable"."""

    async def run(name: str, check: Check) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check(), timeout=timeout_seconds)
        except Exception as exc:  # any failure means "not ready"
            logger.warning("readiness_check_failed", dependency=name, error=repr(exc))
            return name, "unavailable"
        return name, "ok"

    results = await asyncio.gather(*(run(name, check) for name, check in checks.items()))
    return dict(results)

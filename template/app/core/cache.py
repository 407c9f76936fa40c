"""A small JSON cache on Redis that never takes the API down with it.

Redis errors are logged and treated as cache misses: reads fall through to the database,
and a failed invalidation only shortens to the TTL how long a stale entry can live.
"""

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = structlog.get_logger(__name__)


class Cache:
    def __init__(self, redis: Redis, *, ttl_seconds: int, namespace: str = "cache") -> None:
        self._redis = redis
        self._ttl_seconds = ttl_seconds
        self._namespace = namespace

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"

    async def get(self, key: str) -> str | None:
        try:
            value = await self._redis.get(self._key(key))
        except RedisError as exc:
            logger.warning("cache_unavailable", operation="get", error=str(exc))
            return None
        return None if value is None else str(value)

    async def set(self, key: str, value: str) -> None:
        try:
            await self._redis.set(self._key(key), value, ex=self._ttl_seconds)
        except RedisError as exc:
            logger.warning("cache_unavailable", operation="set", error=str(exc))

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._key(key))
        except RedisError as exc:
            logger.warning("cache_unavailable", operation="delete", error=str(exc))

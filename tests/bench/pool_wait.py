"""How long requests wait for a pooled connection when there are more of them than connections.

The benchmark runs this with a rendered project's interpreter and settings. Concurrent
simulated requests each check out a connection, run one query, spend a few milliseconds of CPU
(with a pause between, as a request awaits other things) and give the connection back; first
on SQLAlchemy's own asyncio pool, then on the project's `FairAsyncQueuePool`, with the
project's pool sizes and timeout. Prints one JSON object: for each pool, checkouts per second,
the 50th and 99th percentile and longest wait in milliseconds, and pool timeouts.

    PYTHONPATH=. .venv/bin/python <template>/tests/bench/pool_wait.py [requests] [seconds]
"""

import asyncio
import json
import sys
import time
from typing import Any
from unittest import mock

import uvloop
from app.core import database
from app.core.config import get_settings
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import AsyncAdaptedQueuePool

CPU_MS_HOLDING = 3.0
CPU_MS_BETWEEN = 0.5


def spend_cpu(milliseconds: float) -> None:
    deadline = time.perf_counter() + milliseconds / 1000
    while time.perf_counter() < deadline:
        pass


async def measure(requests: int, seconds: float) -> dict[str, Any]:
    engine = database.create_engine(get_settings())
    pool_class = type(engine.pool).__name__
    waits: list[float] = []
    timeouts = 0
    stop = time.monotonic() + seconds

    async def simulated_request() -> None:
        nonlocal timeouts
        while time.monotonic() < stop:
            asked = time.perf_counter()
            try:
                async with engine.connect() as connection:
                    waits.append(time.perf_counter() - asked)
                    await connection.execute(text("SELECT 1"))
                    spend_cpu(CPU_MS_HOLDING / 2)
                    await asyncio.sleep(0)
                    spend_cpu(CPU_MS_HOLDING / 2)
            except PoolTimeoutError:
                timeouts += 1
            spend_cpu(CPU_MS_BETWEEN)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(simulated_request() for _ in range(requests)))
    finally:
        await engine.dispose()
    waits.sort()

    def percentile_ms(fraction: float) -> float:
        return round(waits[min(len(waits) - 1, int(len(waits) * fraction))] * 1000, 1)

    return {
        "pool_class": pool_class,
        "checkouts_per_second": round(len(waits) / seconds, 1),
        "wait_p50_ms": percentile_ms(0.5),
        "wait_p99_ms": percentile_ms(0.99),
        "wait_max_ms": round(waits[-1] * 1000, 1),
        "pool_timeouts": timeouts,
    }


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    # create_engine names the pool class when called: patched, it builds SQLAlchemy's own.
    with mock.patch.object(database, "FairAsyncQueuePool", AsyncAdaptedQueuePool):
        sqlalchemy_pool = uvloop.run(measure(requests, seconds))
    fair_pool = uvloop.run(measure(requests, seconds))
    print(json.dumps({"sqlalchemy": sqlalchemy_pool, "fair": fair_pool}))


if __name__ == "__main__":
    main()

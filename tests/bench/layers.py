"""What one database read costs at each layer of a generated service's stack.

The benchmark runs this with a rendered project's interpreter, against its seeded database, and
adds the figures to its results. Each layer reads the same user by primary key, one read at a
time, and the figure is the process's CPU time per read in microseconds:

- `driver`: the driver alone on one open connection (asyncpg only);
- `core_in_transaction`: a SQLAlchemy Core `select` on that connection, its transaction open;
- `core_per_request`: a pooled connection checked out, `select`, transaction ended, checked in;
- `orm_per_request`: what a request's session does, `Session.get` in a new session;
- `orm_read_only_per_request`: the same in a session of a GET request (`READ_ONLY_OPTIONS`:
  on PostgreSQL, no BEGIN and no ROLLBACK).

Prints one JSON object. Stand-alone, from the project's directory with its settings:
`PYTHONPATH=. .venv/bin/python <template>/tests/bench/layers.py`.
"""

import json
import time
from collections.abc import Awaitable, Callable

import uvloop
from app.accounts.models import User
from app.core.config import get_settings
from app.core.database import create_engine, create_session_factory
from sqlalchemy import select

READS = 2000
WARMUP_READS = 100


async def cpu_us_per_read(read: Callable[[], Awaitable[object]]) -> float:
    for _ in range(WARMUP_READS):
        await read()
    started = time.process_time()
    for _ in range(READS):
        await read()
    return round((time.process_time() - started) / READS * 1_000_000, 1)


async def measure() -> dict[str, float]:
    engine = create_engine(get_settings())
    sessions = create_session_factory(engine)
    read_only_sessions = create_session_factory(engine, read_only=True)
    users = User.__table__
    costs: dict[str, float] = {}
    try:
        async with engine.connect() as connection:
            user_id = (await connection.execute(select(users.c.id).limit(1))).scalar_one()
            by_id = select(users).where(users.c.id == user_id)
            driver = (await connection.get_raw_connection()).driver_connection
            if hasattr(driver, "fetchrow"):  # asyncpg
                costs["driver"] = await cpu_us_per_read(
                    lambda: driver.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
                )

            async def core_in_transaction() -> object:
                return (await connection.execute(by_id)).one()

            costs["core_in_transaction"] = await cpu_us_per_read(core_in_transaction)

        async def core_per_request() -> object:
            async with engine.connect() as connection:
                return (await connection.execute(by_id)).one()

        async def orm_per_request() -> object:
            async with sessions() as session:
                return await session.get(User, user_id)

        async def orm_read_only_per_request() -> object:
            async with read_only_sessions() as session:
                return await session.get(User, user_id)

        costs["core_per_request"] = await cpu_us_per_read(core_per_request)
        costs["orm_per_request"] = await cpu_us_per_read(orm_per_request)
        costs["orm_read_only_per_request"] = await cpu_us_per_read(orm_read_only_per_request)
    finally:
        await engine.dispose()
    return costs


if __name__ == "__main__":
    # The event loop the server runs on (uvicorn --loop uvloop).
    print(json.dumps(uvloop.run(measure())))

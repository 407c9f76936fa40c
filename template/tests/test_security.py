import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from app.core.security import hash_password, verify_password


async def _watching_the_event_loop(work: Coroutine[Any, Any, Any]) -> Any:
    """Run `work` and check that a 5 ms timer kept firing meanwhile.

    Argon2 computes for a good fraction of a second: run on the event loop, it would hold the
    timer back about as long as it takes itself.
    """
    started = time.perf_counter()
    task = asyncio.ensure_future(work)
    longest_pause = 0.0
    while not task.done():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        longest_pause = max(longest_pause, time.perf_counter() - before)
    assert longest_pause < (time.perf_counter() - started) / 2
    return await task


async def test_password_hashing_leaves_the_event_loop_free() -> None:
    hashed = await _watching_the_event_loop(hash_password("a-long-password"))
    assert await _watching_the_event_loop(verify_password("a-long-password", hashed))
    assert not await verify_password("another-password", hashed)
    assert not await verify_password("a-long-password", None)

"""This machine's servers, standing in for a stack's image services.

Which kind of server an image provides, the port and account of this machine's server of that
kind, free ports on 127.0.0.1, and slots of Redis databases that stacks running side by side
lock so they never share one.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "fastapi-template-tests"

# The kind of server an image provides, by the image's name.
IMAGE_KINDS = {
    "postgres": "postgresql",
    "mariadb": "mysql",
    "mysql": "mysql",
    "redis": "redis",
    "valkey": "redis",
    "rabbitmq": "amqp",
}


def image_kind(image: str) -> str | None:
    name = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    return IMAGE_KINDS.get(name)


@dataclass(frozen=True)
class MachineService:
    name: str
    port: int
    user: str | None = None
    password: str | None = None


# This machine's servers, by kind and by URL scheme (before any "+driver").
MACHINE = {
    "postgresql": MachineService("PostgreSQL", 5432, "postgres"),
    "mysql": MachineService("MariaDB", 3306, "root"),
    "redis": MachineService("Redis", 6379),
    "amqp": MachineService("RabbitMQ", 5672, "guest", "guest"),
}
SCHEME_KINDS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "amqp": "amqp",
    "pyamqp": "amqp",
}
HOST = "127.0.0.1"
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+")
REDIS_SLOT_WIDTH = 3
# Databases 0-2 are what a developer's generated project uses, 13-15 its test suite's.
REDIS_SLOTS = (3, 6, 9)


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold the lock file `path` (created with its folder): one process of this machine at a
    time, test workers included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_slot(timeout: float = 900) -> Iterator[int]:
    """The first Redis database of a slot this process holds a lock on until it exits."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for first in REDIS_SLOTS:
            with (LOCK_DIR / f"redis-db-{first}.lock").open("w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield first
                    return
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Redis database slot was free within {timeout:g}s")
        time.sleep(1)


def answers(port: int, timeout: float = 3) -> bool:
    """Whether something accepts TCP connections on this machine's `port`."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False

"""Skip on a developer machine, fail in CI: what to do when a service or interpreter is missing."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine, fail in CI: CI must have every service and interpreter."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_service(name: str, host: str, port: int, timeout: float = 3.0) -> None:
    """Skip (or fail in CI) unless something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as error:
        unavailable(f"{name} unreachable at {host}:{port}: {error}")

"""Helpers shared by the tests."""

import os
import socket
from typing import Any, NoReturn

import pytest
from httpx import AsyncClient

from app.schemas.auth import TokenPair
from tests.factories import DEFAULT_PASSWORD

Published = list[tuple[str, tuple[Any, ...]]]
"""Tasks the code published, as (task name, arguments), recorded instead of sent."""


async def login(client: AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> TokenPair:
    response = await client.post(
        "/api/v1/auth/login", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return TokenPair.model_validate(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def closed_port() -> int:
    """A local TCP port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def service_unavailable(service: str, error: BaseException) -> NoReturn:
    """Skip when a service is down on a developer machine; fail under CI, where it must run."""
    reason = f"{service} is unreachable ({error}); start it or point .env at it."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from asgi_lifespan import LifespanManager
from celery import Celery
from httpx import ASGITransport, AsyncClient

from app.api import health
from app.core.config import Settings
from app.main import create_app
from tests.helpers import closed_port


async def test_live(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_ready_when_every_dependency_answers(client: AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@asynccontextmanager
async def _client_for(settings: Settings) -> AsyncIterator[AsyncClient]:
    application = create_app(settings)
    async with LifespanManager(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.mark.parametrize(
    ("dependency", "setting", "broken_value"),
    [
        ("database", "database_url", "postgresql+asyncpg://postgres@127.0.0.1:{port}/missing"),
        ("redis", "redis_url", "redis://127.0.0.1:{port}/0"),
    ],
)
async def test_ready_names_the_failing_dependency(
    settings: Settings, dependency: str, setting: str, broken_value: str
) -> None:
    broken = settings.model_copy(update={setting: broken_value.format(port=closed_port())})
    async with _client_for(broken) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "dependency_unavailable"
    assert error["details"] == [{"dependency": dependency, "status": "unavailable"}]
    assert dependency in error["message"]


async def test_ready_names_an_unreachable_broker(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", f"redis://127.0.0.1:{closed_port()}/0")
    monkeypatch.setattr(health, "celery_app", Celery("unreachable"))
    response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["error"]["details"] == [
        {"dependency": "broker", "status": "unavailable"}
    ]

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from httpx import AsyncClient, RemoteProtocolError
from pydantic import BaseModel

from app.core.config import Settings
from app.main import create_app
from tests.live_server import live_server, logged_events


async def test_unknown_route_uses_the_envelope(client: AsyncClient) -> None:
    response = await client.get("/no/such/route")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["request_id"] == response.headers["X-Request-ID"]


async def test_wrong_method_uses_the_envelope(client: AsyncClient) -> None:
    response = await client.delete("/health/live")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


class Greeting(BaseModel):
    name: str


async def test_malformed_json_is_a_validation_error(app: FastAPI, client: AsyncClient) -> None:
    @app.post("/greetings")
    async def greet(greeting: Greeting) -> Greeting:
        return greeting

    response = await client.post(
        "/greetings", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_unexpected_errors_leak_nothing(app: FastAPI, client: AsyncClient) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("database password is hunter2")

    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["X-Request-ID"] == response.json()["error"]["request_id"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_unexpected_errors_are_logged_once_with_the_request_id(
    capfd: pytest.CaptureFixture[str], settings: Settings
) -> None:
    """Served by uvicorn, as in production: the server does not log the error a second time."""
    application = create_app(settings.model_copy(update={"log_json": True}))

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("logged once")

    capfd.readouterr()
    async with (
        live_server(application) as (host, port),
        AsyncClient(base_url=f"http://{host}:{port}") as client,
    ):
        response = await client.get("/boom")
    assert response.status_code == 500
    events = logged_events(capfd)
    errors = [event for event in events if event["level"] == "error"]
    assert [(error["event"], error["request_id"]) for error in errors] == [
        ("unhandled_error", response.headers["X-Request-ID"])
    ]
    [access] = [event for event in events if event["event"] == "request"]
    assert access["status"] == 500


async def test_a_response_cut_after_it_started_is_logged_as_incomplete(
    capfd: pytest.CaptureFixture[str], settings: Settings
) -> None:
    application = create_app(settings.model_copy(update={"log_json": True}))

    @application.get("/cut")
    async def cut() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"the first half"
            raise RuntimeError("the second half failed")

        return StreamingResponse(chunks())

    capfd.readouterr()
    async with (
        live_server(application) as (host, port),
        AsyncClient(base_url=f"http://{host}:{port}") as client,
    ):
        with pytest.raises(RemoteProtocolError):  # the server closed the connection
            await client.get("/cut")
    events = logged_events(capfd)
    assert [event["event"] for event in events].count("unhandled_error") == 1
    [access] = [event for event in events if event["event"] == "request"]
    assert access["status"] == 200
    assert access["complete"] is False


async def test_incoming_request_id_is_kept(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


async def test_unsafe_request_id_is_replaced(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "bad id\twith spaces"})
    request_id = response.headers["X-Request-ID"]
    assert request_id != "bad id\twith spaces"
    assert len(request_id) == 32


async def test_security_headers(client: AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


async def test_cors_allows_only_configured_origins(app: FastAPI, client: AsyncClient) -> None:
    allowed = app.state.settings.cors_allow_origins
    preflight = {"Access-Control-Request-Method": "GET"}
    refused = await client.options(
        "/health/live", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    if allowed:
        accepted = await client.options("/health/live", headers={"Origin": allowed[0], **preflight})
        assert accepted.headers["access-control-allow-origin"] == allowed[0]

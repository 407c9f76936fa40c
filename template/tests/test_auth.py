import uuid
from datetime import UTC, datetime, timedelta

import jwt
from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.security import create_token
from app.models.user import RefreshToken, User
from app.services.auth import purge_expired_refresh_tokens
from tests.factories import DEFAULT_PASSWORD
from tests.helpers import bearer, login


async def test_signup_creates_a_user(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup",
        json={"email": "New.Person@Example.com", "password": "a-long-password", "full_name": "N"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "new.person@example.com"
    assert body["is_superuser"] is False
    assert "password" not in response.text
    assert "hashed_password" not in body


async def test_signup_refuses_a_taken_email(client: AsyncClient, user: User) -> None:
    response = await client.post(
        "/api/v1/auth/signup", json={"email": user.email, "password": "a-long-password"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


async def test_signup_validation_errors_use_the_envelope(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup", json={"email": "not-an-email", "password": "short"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {detail["field"] for detail in error["details"]} == {"body.email", "body.password"}
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "short" not in response.text  # rejected input is never echoed


async def test_login_returns_a_token_pair(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    assert tokens.token_type == "bearer"
    me = await client.get("/api/v1/users/me", headers=bearer(tokens.access_token))
    assert me.status_code == 200
    assert me.json()["email"] == user.email


async def test_login_with_a_wrong_password_fails(client: AsyncClient, user: User) -> None:
    response = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_login_with_an_unknown_email_fails_the_same_way(client: AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        data={"username": "nobody@example.com", "password": DEFAULT_PASSWORD},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


async def test_protected_route_needs_a_token(client: AsyncClient) -> None:
    response = await client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_expired_access_token_is_refused(
    client: AsyncClient, user: User, settings: Settings
) -> None:
    expired = create_token(
        settings,
        subject=user.id,
        kind="access",
        token_id=uuid.uuid4(),
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    response = await client.get("/api/v1/users/me", headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_tampered_access_token_is_refused(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    claims["sub"] = str(uuid.uuid4())
    forged = jwt.encode(claims, "not-the-secret-key-but-long-enough-for-hs256", algorithm="HS256")
    response = await client.get("/api/v1/users/me", headers=bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_unsigned_token_is_refused(client: AsyncClient, user: User) -> None:
    unsigned = jwt.encode(
        {"sub": str(user.id), "type": "access", "jti": str(uuid.uuid4()), "exp": 2**31},
        key=None,
        algorithm="none",
    )
    response = await client.get("/api/v1/users/me", headers=bearer(unsigned))
    assert response.status_code == 401


async def test_refresh_token_is_not_an_access_token(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    response = await client.get("/api/v1/users/me", headers=bearer(tokens.refresh_token))
    assert response.status_code == 401


async def test_refresh_rotates_the_refresh_token(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    response = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens.refresh_token}
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != tokens.refresh_token
    me = await client.get("/api/v1/users/me", headers=bearer(rotated["access_token"]))
    assert me.status_code == 200


async def test_reusing_a_refresh_token_revokes_its_family(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens.refresh_token})
    assert first.status_code == 200
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens.refresh_token})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_reused"
    # The token issued by the legitimate rotation is revoked along with its family.
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first.json()["refresh_token"]}
    )
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(client: AsyncClient, user: User) -> None:
    tokens = await login(client, user.email)
    response = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": tokens.refresh_token}
    )
    assert response.status_code == 204
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens.refresh_token}
    )
    assert refresh.status_code == 401


async def test_inactive_user_cannot_log_in(client: AsyncClient, user: User) -> None:
    user.is_active = False
    response = await client.post(
        "/api/v1/auth/login", data={"username": user.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "inactive_user"


async def test_expired_refresh_tokens_are_purged(db_session: AsyncSession, user: User) -> None:
    now = datetime.now(UTC)
    expired, current = (
        RefreshToken(user_id=user.id, family_id=uuid.uuid4(), expires_at=now + offset)
        for offset in (timedelta(seconds=-1), timedelta(days=1))
    )
    db_session.add_all([expired, current])
    await db_session.flush()

    assert await purge_expired_refresh_tokens(db_session) >= 1
    db_session.expunge_all()
    assert await db_session.get(RefreshToken, expired.id) is None
    assert await db_session.get(RefreshToken, current.id) is not None

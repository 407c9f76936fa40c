from httpx import AsyncClient

from app.models.user import User
from tests.helpers import login


async def test_superuser_lists_users_with_a_total(
    client: AsyncClient, superuser_headers: dict[str, str], user: User
) -> None:
    response = await client.get("/api/v1/users?limit=1", headers=superuser_headers)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["limit"] == 1
    assert page["total"] >= 2
    assert len(page["items"]) == 1


async def test_listing_users_is_refused_to_normal_users(
    client: AsyncClient, user_headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/users", headers=user_headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_user_updates_their_profile_and_password(
    client: AsyncClient, user: User, user_headers: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v1/users/me",
        json={"full_name": "Renamed", "password": "a-brand-new-password"},
        headers=user_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Renamed"
    await login(client, user.email, "a-brand-new-password")


async def test_page_size_is_bounded(client: AsyncClient, superuser_headers: dict[str, str]) -> None:
    response = await client.get("/api/v1/users?limit=100000", headers=superuser_headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "query.limit"

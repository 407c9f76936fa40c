from typing import Annotated, Any

from fastapi import APIRouter, Form, status

from app.accounts.auth_schemas import LoginForm, RefreshRequest, TokenPair
from app.accounts.dependencies import (
    AuthServiceDep,
    ClientAddress,
    LoginThrottleDep,
    UserServiceDep,
)
from app.accounts.schemas import UserCreate, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])

# OpenAPI links: the calls a response makes possible. Generated clients and Schemathesis'
# stateful tests (sign up, log in, refresh, log out in sequence) follow them.
_WITH_THE_REFRESH_TOKEN = {"refresh_token": "$response.body#/refresh_token"}
SIGNED_UP: dict[int | str, dict[str, Any]] = {
    status.HTTP_201_CREATED: {
        "links": {
            "Login": {
                "operationId": "login",
                "requestBody": {
                    "username": "$response.body#/email",
                    "password": "$request.body#/password",
                },
            }
        }
    }
}
TOKENS_ISSUED: dict[int | str, dict[str, Any]] = {
    status.HTTP_200_OK: {
        "links": {
            "Refresh": {"operationId": "refresh", "requestBody": _WITH_THE_REFRESH_TOKEN},
            "Logout": {"operationId": "logout", "requestBody": _WITH_THE_REFRESH_TOKEN},
        }
    }
}


@router.post("/signup", status_code=status.HTTP_201_CREATED, responses=SIGNED_UP)
async def signup(data: UserCreate, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.signup(data))


@router.post("/login", responses=TOKENS_ISSUED)
async def login(
    form: Annotated[LoginForm, Form()],
    auth: AuthServiceDep,
    throttle: LoginThrottleDep,
    address: ClientAddress,
) -> TokenPair:
    """OAuth2 password flow: the form's `username` field carries the email."""
    async with throttle.attempt(form.username, address):
        return await auth.login(form.username, form.password)


@router.post("/refresh", responses=TOKENS_ISSUED)
async def refresh(data: RefreshRequest, auth: AuthServiceDep) -> TokenPair:
    return await auth.refresh(data.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshRequest, auth: AuthServiceDep) -> None:
    await auth.logout(data.refresh_token)

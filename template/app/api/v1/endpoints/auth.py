from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import AuthServiceDep, UserServiceDep
from app.schemas.auth import RefreshRequest, TokenPair
from app.schemas.users import UserCreate, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/signup", status_code=status.HTTP_201_CREATED)
async def signup(data: UserCreate, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.signup(data))


@router.post("/login")
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], auth: AuthServiceDep
) -> TokenPair:
    """OAuth2 password flow: the form's `username` field carries the email."""
    return await auth.login(form.username, form.password)


@router.post("/refresh")
async def refresh(data: RefreshRequest, auth: AuthServiceDep) -> TokenPair:
    return await auth.refresh(data.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(data: RefreshRequest, auth: AuthServiceDep) -> None:
    await auth.logout(data.refresh_token)

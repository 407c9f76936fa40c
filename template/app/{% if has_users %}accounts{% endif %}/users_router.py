import uuid

from fastapi import APIRouter

from app.accounts.auth_schemas import TokenPair
from app.accounts.dependencies import (
    AccountMailDep,
    AuthServiceDep,
    ClientAddress,
    CurrentSuperuser,
    CurrentUser,
    LoginThrottleDep,
    UserServiceDep,
)
from app.accounts.schemas import (
    EmailChange,
    PasswordChange,
    UserAdminUpdate,
    UserRead,
    UserUpdate,
)
from app.core.dependencies import PaginationDep
from app.core.schemas import Page

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me")
async def update_me(data: UserUpdate, user: CurrentUser, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.update(user, data))


@router.post("/me/password")
async def change_password(
    data: PasswordChange,
    user: CurrentUser,
    auth: AuthServiceDep,
    throttle: LoginThrottleDep,
    address: ClientAddress,
) -> TokenPair:
    """Change the password, given the current one; every session ends but this one.

    All tokens issued before are revoked, this request's included: continue with the pair
    returned. Wrong current passwords count as failed logins, so a stolen access token cannot
    be used to guess the password.
    """
    async with throttle.attempt(user.email, address):
        return await auth.change_password(
            user, current_password=data.current_password, new_password=data.new_password
        )


@router.post("/me/email")
async def change_email(
    data: EmailChange,
    user: CurrentUser,
    *,
    auth: AuthServiceDep,
    users: UserServiceDep,
    throttle: LoginThrottleDep,
    address: ClientAddress,
    mail: AccountMailDep,
) -> UserRead:
    """Change the address, given the current password; it is unverified until the user follows
    the link emailed to the new address. Wrong passwords count as failed logins."""
    async with throttle.attempt(user.email, address):
        await auth.check_password(user, data.current_password)
    changed = await users.change_email(user, data.new_email)
    if changed.email_verified_at is None:
        mail.verification(changed)
    return UserRead.model_validate(changed)


@router.get("")
async def list_users(
    _: CurrentSuperuser, pagination: PaginationDep, users: UserServiceDep
) -> Page[UserRead]:
    found, total = await users.list(limit=pagination.limit, offset=pagination.offset)
    return Page(
        items=[UserRead.model_validate(user) for user in found],
        total=total,
        limit=pagination.limit,
        offset=pagination.offset,
    )


@router.patch("/{user_id}")
async def update_user(
    user_id: uuid.UUID, data: UserAdminUpdate, _: CurrentSuperuser, auth: AuthServiceDep
) -> UserRead:
    """Disabling an account revokes its tokens at once."""
    return UserRead.model_validate(await auth.update_as_admin(user_id, data))

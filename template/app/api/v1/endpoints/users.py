from fastapi import APIRouter

from app.api.deps import CurrentSuperuser, CurrentUser, PaginationDep, UserServiceDep
from app.schemas.common import Page
from app.schemas.users import UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me")
async def read_me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)


@router.patch("/me")
async def update_me(data: UserUpdate, user: CurrentUser, users: UserServiceDep) -> UserRead:
    return UserRead.model_validate(await users.update(user, data))


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

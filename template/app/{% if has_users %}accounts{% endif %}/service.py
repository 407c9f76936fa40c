import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from {{ async_session_module }} import AsyncSession

from app.accounts.authentication import revoke_tokens
from app.accounts.models import User
from app.accounts.repository import UserRepository
from app.accounts.schemas import UserAdminUpdate, UserCreate, UserUpdate
from app.core.errors import ConflictError, NotFoundError
from app.core.security import hash_password


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = UserRepository(session)

    async def register(self, data: UserCreate, *, is_superuser: bool = False) -> User:
        # Hashing first: it may queue behind other hashes, and holds no connection meanwhile.
        hashed_password = await hash_password(data.password)
        if await self.users.get_by_email(data.email) is not None:
            raise ConflictError("A user with this email already exists.", code="email_taken")
        user = User(
            email=data.email,
            full_name=data.full_name,
            hashed_password=hashed_password,
            is_superuser=is_superuser,
        )
        try:
            await self.users.add(user)
            await self.session.commit()
        except IntegrityError as exc:  # a concurrent signup with the same email won the race
            await self.session.rollback()
            raise ConflictError(
                "A user with this email already exists.", code="email_taken"
            ) from exc
        return user

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFoundError("User not found.")
        return user

    async def update(self, user: User, data: UserUpdate) -> User:
        if data.full_name is not None:
            user.full_name = data.full_name
        await self.session.commit()
        return user

    async def update_as_admin(self, user_id: uuid.UUID, data: UserAdminUpdate) -> User:
        user = await self.get(user_id)
        if data.is_active is not None and data.is_active != user.is_active:
            user.is_active = data.is_active
            if not data.is_active:
                # Disabled now, not when its tokens expire; enabled again, it logs in afresh.
                await revoke_tokens(self.session, user)
        await self.session.commit()
        return user

    async def list(self, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
        return await self.users.list(limit=limit, offset=offset)

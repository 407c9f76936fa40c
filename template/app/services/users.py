import uuid
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.celery_app import enqueue
from app.core.errors import ConflictError, NotFoundError
from app.core.security import hash_password
from app.models.user import User
from app.repositories.users import UserRepository
from app.schemas.users import UserCreate, UserUpdate
from app.tasks.notifications import send_welcome_email


class UserService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = UserRepository(session)

    async def signup(self, data: UserCreate) -> User:
        """Register a user and queue their welcome email."""
        user = await self.register(data)
        await enqueue(send_welcome_email, str(user.id), user.email, user.full_name)
        return user

    async def register(self, data: UserCreate, *, is_superuser: bool = False) -> User:
        if await self.users.get_by_email(data.email) is not None:
            raise ConflictError("A user with this email already exists.", code="email_taken")
        user = User(
            email=data.email,
            full_name=data.full_name,
            hashed_password=hash_password(data.password),
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
        if data.password is not None:
            user.hashed_password = hash_password(data.password)
        await self.session.commit()
        return user

    async def list(self, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
        return await self.users.list(limit=limit, offset=offset)

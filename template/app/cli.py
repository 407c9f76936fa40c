"""Management commands: python -m app.cli --help"""

import argparse
import asyncio

from app.core.config import get_settings
from app.core.database import standalone_session
from app.core.logging import configure_logging
from app.repositories.users import UserRepository
from app.schemas.users import UserCreate
from app.services.users import UserService


async def create_superuser() -> str:
    """Create the superuser named by FIRST_SUPERUSER_EMAIL/PASSWORD, unless it exists."""
    settings = get_settings()
    if settings.first_superuser_email is None or settings.first_superuser_password is None:
        return "FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD are not set; nothing to do."
    async with standalone_session(settings) as session:
        if await UserRepository(session).get_by_email(settings.first_superuser_email):
            return f"Superuser {settings.first_superuser_email} already exists."
        data = UserCreate(
            email=settings.first_superuser_email,
            password=settings.first_superuser_password.get_secret_value(),
            full_name="Administrator",
        )
        await UserService(session).register(data, is_superuser=True)
    return f"Superuser {settings.first_superuser_email} created."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-superuser", help=create_superuser.__doc__)
    parser.parse_args(argv)
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    print(asyncio.run(create_superuser()))  # noqa: T201  # a command's output


if __name__ == "__main__":
    main()

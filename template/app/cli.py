"""Management commands: python -m app.cli --help"""

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine

from app.core.config import get_settings
from app.core.database import standalone_session
from app.core.logging import configure_logging
from app.repositories.users import UserRepository
from app.schemas.users import UserCreate
from app.services.auth import purge_expired_refresh_tokens
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


async def purge_expired_tokens() -> str:
    """Delete expired refresh tokens (also scheduled hourly when Celery beat runs)."""
    async with standalone_session(get_settings()) as session:
        deleted = await purge_expired_refresh_tokens(session)
    return f"Deleted {deleted} expired refresh tokens."


COMMANDS: dict[str, Callable[[], Coroutine[None, None, str]]] = {
    "create-superuser": create_superuser,
    "purge-expired-tokens": purge_expired_tokens,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        commands.add_parser(name, help=command.__doc__)
    arguments = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    sys.stdout.write(asyncio.run(COMMANDS[arguments.command]()) + "\n")


if __name__ == "__main__":
    main()

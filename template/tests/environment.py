"""Test settings, loaded as a pytest plugin (`-p tests.environment` in pyproject.toml) so they
are in place before conftest.py or any test imports the application, whose Celery app reads the
settings at import time.

Tests use the servers configured for development (.env or the environment) but their own
databases: `<database>_test` in PostgreSQL (or TEST_DATABASE_URL) and Redis databases 13-15.
Every Redis key a test writes is named after a fresh UUID and the worker test listens on a
queue of its own, so two test runs against the same servers do not disturb each other.
"""

import os
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.engine import make_url

from app.core.config import Settings, get_settings

TEST_REDIS_DBS = {"REDIS_URL": 15, "CELERY_BROKER_URL": 14, "CELERY_RESULT_BACKEND": 13}


def _with_redis_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def _configure_test_environment() -> None:
    """Point the settings at the test databases before any application module reads them."""
    os.environ["ENVIRONMENT"] = "test"
    os.environ.setdefault("SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256")
    base = Settings()
    database = make_url(base.database_url)
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL") or database.set(
        database=f"{database.database}_test"
    ).render_as_string(hide_password=False)
    for name, db in TEST_REDIS_DBS.items():
        url = getattr(base, name.lower(), None)
        if isinstance(url, str) and url.startswith("redis://"):
            os.environ[name] = _with_redis_db(url, db)
    get_settings.cache_clear()


_configure_test_environment()

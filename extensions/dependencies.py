"""The packages a generated project depends on, and the versions the template's tests passed with.

`RUNTIME` and `DEV` are what `pyproject.toml` declares: each row's requirement is the range the
team may move in, with the answers that need it. `TESTED_VERSIONS` is the one table of the
versions the variant matrix installed the last time it passed (tests/test_variants.py fails
when a project locks anything else). The generated project pins its direct dependencies to
them, as uv constraints or Poetry version constraints, so its first lock installs what the
template was tested with; the team raises a pin (or drops it) to upgrade. docs/dependencies.md
says why, and how a raise reaches this table: only through the matrix.

Generation needs no network: the table is plain data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Context = Mapping[str, Any]
Predicate = Callable[[Context], bool]

# One line per package, `"name": "version",`: the template's Renovate configuration
# (renovate.json) finds and raises the versions with a regular expression over these lines.
TESTED_VERSIONS = {
    "aiomysql": "0.3.2",
    "aiosmtpd": "1.4.6",
    "aiosqlite": "0.22.1",
    "alembic": "1.20.1",
    "anyio": "4.16.0",
    "asgi-lifespan": "2.1.0",
    "asyncpg": "0.32.0",
    "celery": "5.7.0",
    "celery-types": "0.26.0",
    "email-validator": "2.4.0",
    "fastapi": "0.165.0",
    "fastapi-offline": "1.7.7",
    "httpx": "0.29.0",
    "locust": "2.47.0",
    "mypy": "2.4.1",
    "opentelemetry-exporter-otlp-proto-http": "1.45.2",
    "opentelemetry-instrumentation-celery": "0.66b2",
    "opentelemetry-instrumentation-fastapi": "0.66b2",
    "opentelemetry-instrumentation-sqlalchemy": "0.66b2",
    "opentelemetry-sdk": "1.45.2",
    "pre-commit": "4.7.0",
    "pre-commit-hooks": "6.0.0",
    "prometheus-client": "0.26.0",
    "pwdlib": "0.3.1",
    "pydantic": "2.14.4",
    "pydantic-settings": "2.16.3",
    "pyjwt": "2.15.1",
    "pytest": "9.2.0",
    "pytest-asyncio": "1.5.0",
    "python-multipart": "0.0.34",
    "redis": "8.1.0",
    "ruff": "0.17.6",
    "schemathesis": "4.32.5",
    "sentry-sdk": "2.75.0",
    "sqlalchemy": "2.1.9",
    "sqlmodel": "0.0.50",
    "structlog": "26.1.0",
    "uvicorn": "0.55.0",
}

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def canonical_name(requirement: str) -> str:
    """The package a PEP 508 requirement names, normalised as PEP 503 has it."""
    match = NAME.match(requirement)
    assert match is not None, f"not a requirement: {requirement!r}"
    return re.sub(r"[-_.]+", "-", match.group()).lower()


@dataclass(frozen=True)
class Dependency:
    requirement: str  # as pyproject.toml declares it: name, extras and the range
    needs: Predicate | None = None  # None: every project
    note: str = ""  # a comment above the line, for whoever reads pyproject.toml

    @property
    def name(self) -> str:
        return canonical_name(self.requirement)


def database(name: str) -> Predicate:
    return lambda context: bool(context["has_database"]) and context.get("database") == name


def broker(name: str) -> Predicate:
    return lambda context: context.get("broker") == name


def flag(name: str) -> Predicate:
    return lambda context: bool(context[name])


def both(*names: str) -> Predicate:
    return lambda context: all(context[name] for name in names)


RUNTIME = [
    Dependency("asyncpg>=0.30", needs=database("postgresql")),
    Dependency("aiomysql>=0.2", needs=database("mysql")),
    Dependency("aiosqlite>=0.20", needs=database("sqlite")),
    Dependency("alembic>=1.14", needs=flag("has_database")),
    Dependency("anyio>=4.5", needs=flag("has_users")),
    Dependency("celery[redis]>=5.7", needs=broker("redis")),
    Dependency("celery>=5.7", needs=broker("rabbitmq")),
    Dependency("email-validator>=2.2", needs=flag("has_users")),
    Dependency("fastapi>=0.130"),
    Dependency(
        "fastapi-offline>=1.7.7",
        note="Swagger UI's files, so the API docs at /docs work offline (app/api/docs.py).",
    ),
    Dependency("httpx>=0.28", needs=flag("has_oidc")),
    Dependency("opentelemetry-exporter-otlp-proto-http>=1.29", needs=flag("has_tracing")),
    Dependency(
        "opentelemetry-instrumentation-celery>=0.50b0", needs=both("has_tracing", "has_celery")
    ),
    Dependency("opentelemetry-instrumentation-fastapi>=0.50b0", needs=flag("has_tracing")),
    Dependency(
        "opentelemetry-instrumentation-sqlalchemy>=0.50b0",
        needs=both("has_tracing", "has_database"),
    ),
    Dependency("opentelemetry-sdk>=1.29", needs=flag("has_tracing")),
    Dependency("prometheus-client>=0.21", needs=flag("has_metrics")),
    Dependency("pwdlib[argon2]>=0.2.1", needs=flag("has_users")),
    Dependency("pydantic>=2.11"),
    Dependency("pydantic-settings>=2.6"),
    Dependency("pyjwt>=2.10", needs=flag("has_users")),
    Dependency("python-multipart>=0.0.18", needs=flag("has_users")),
    Dependency("pyjwt[crypto]>=2.10", needs=flag("has_oidc")),
    Dependency("redis>=5.2", needs=flag("has_cache")),
    Dependency("sentry-sdk>=2.19", needs=flag("has_sentry")),
    Dependency("sqlalchemy[asyncio]>=2.1", needs=flag("has_database")),
    Dependency(
        "sqlmodel>=0.0.48",
        needs=flag("is_sqlmodel"),
        note="0.0.48 is the first release that supports SQLAlchemy 2.1.",
    ),
    Dependency("structlog>=24.4"),
    Dependency("uvicorn[standard]>=0.32"),
]

DEV = [
    # The SMTP server the tests send account emails to (tests/smtp_server.py).
    Dependency("aiosmtpd>=1.4", needs=flag("has_users")),
    Dependency("asgi-lifespan>=2.1"),
    Dependency("celery-types>=0.22", needs=flag("has_celery")),
    Dependency("httpx>=0.28"),
    Dependency("locust>=2.32"),
    Dependency("mypy>=1.13"),
    Dependency("pre-commit>=4.0"),
    Dependency("pre-commit-hooks>=5.0"),
    Dependency("pytest>=8.3"),
    Dependency("pytest-asyncio>=0.25"),
    Dependency("ruff>=0.8"),
    Dependency("schemathesis>=4.32"),
]


def active(dependencies: Iterable[Dependency], context: Context) -> list[Dependency]:
    return [row for row in dependencies if row.needs is None or row.needs(context)]


def pins(dependencies: Iterable[Dependency]) -> dict[str, str]:
    """`name: tested version` for each package, by name."""
    return {name: TESTED_VERSIONS[name] for name in sorted({row.name for row in dependencies})}


def derive(context: dict[str, Any]) -> None:
    """Put the dependencies these answers need, and their tested versions, in the context."""
    runtime = active(RUNTIME, context)
    dev = active(DEV, context)
    context["runtime_dependencies"] = runtime
    context["dev_dependencies"] = dev
    # Poetry pins each group in its own table; uv constrains the whole resolution at once.
    context["runtime_pins"] = pins(runtime)
    context["dev_pins"] = pins(dev)
    context["tested_constraints"] = [
        f"{name}=={version}" for name, version in pins([*runtime, *dev]).items()
    ]

"""Variant tier: a rendered project installs and passes its own checks against real services.

One test per variant runs the steps in order (each needs the previous one); a failure names the
step, the command, its exit code and the tail of its output.

Every variant is rendered with its own project_slug, and only that answer differs from the
variant's answers. The slug names the project's databases (`<slug_with_underscores>` and the
suite's `<...>_test`), so variants can run side by side under pytest-xdist, and this tier never
touches `my_service`, the database a developer gets by generating the default project: the
databases are dropped at the end of each test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from conftest import (
    PYPI_SIMPLE,
    VARIANTS,
    assert_rendered,
    clean_env,
    parse_env_file,
    pypi_serves_poetry,
    python_for,
    require_service,
    run,
)

pytestmark = pytest.mark.variant

# project_slug per variant: the only answer the variant tier adds to a variant's answers.
VARIANT_SLUGS = {name: f"tplvar-{name}" for name in VARIANTS}

GIT_IDENTITY = [
    "-c",
    "user.name=Template Tests",
    "-c",
    "user.email=template-tests@example.com",
    "-c",
    "commit.gpgsign=false",
]

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


@dataclass
class Database:
    """The project's database server (from its .env) and the databases this test owns."""

    kind: str
    host: str
    port: int
    user: str
    names: list[str] = field(default_factory=list)

    @classmethod
    def from_url(cls, url: str, kind: str) -> Database:
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        return cls(
            kind=kind,
            host="127.0.0.1" if host == "localhost" else host,
            port=parts.port or DEFAULT_PORTS.get(kind, 0),
            user=unquote(parts.username or ("postgres" if kind == "postgresql" else "root")),
            names=[unquote(parts.path.lstrip("/"))],
        )

    @property
    def service(self) -> str:
        return {"postgresql": "PostgreSQL", "mysql": "MariaDB"}.get(self.kind, self.kind)

    def _execute(self, statements: list[str], step: str) -> None:
        if self.kind == "postgresql":
            psql = shutil.which("psql")
            if psql is None:
                pytest.fail("psql is needed to create the variant's databases", pytrace=False)
            cmd = [psql, "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", "postgres"]
            cmd += ["-v", "ON_ERROR_STOP=1", "-X", "-q"]
            for statement in statements:
                cmd += ["-c", statement]
            run(cmd, cwd=tempfile.gettempdir(), env=clean_env(PGCONNECT_TIMEOUT="5"), step=step)
        elif self.kind == "mysql":
            client = shutil.which("mariadb") or shutil.which("mysql")
            if client is None:
                pytest.fail("the mariadb client is needed to create databases", pytrace=False)
            cmd = [client, "-h", self.host, "-P", str(self.port), "-u", self.user]
            cmd += ["-e", "; ".join(statements)]
            run(cmd, cwd=tempfile.gettempdir(), env=clean_env(), step=step, timeout=60)
        else:
            pytest.fail(f"the variant tier cannot provision {self.kind} databases", pytrace=False)

    def _quote(self, name: str) -> str:
        return f"`{name}`" if self.kind == "mysql" else f'"{name}"'

    def _drop(self, name: str) -> str:
        force = " WITH (FORCE)" if self.kind == "postgresql" else ""
        return f"DROP DATABASE IF EXISTS {self._quote(name)}{force}"

    def recreate(self, name: str) -> None:
        self._execute([self._drop(name), f"CREATE DATABASE {self._quote(name)}"], "create database")

    def drop_all(self) -> None:
        self._execute([self._drop(name) for name in self.names], "drop databases")


class Steps:
    """Runs a variant's steps in order, labelled with the variant, and records their times."""

    def __init__(self, variant: str, project: Path, env: dict[str, str]) -> None:
        self.variant = variant
        self.project = project
        self.env = env
        self.timings: list[tuple[str, float]] = []

    def __call__(self, name: str, *cmd: str, timeout: float = 300, attempts: int = 1) -> None:
        """Run one step; `attempts` > 1 only for steps that download from the package index,
        whose failures on this machine's mirror are sometimes transient."""
        started = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                run(
                    cmd,
                    cwd=self.project,
                    env=self.env,
                    timeout=timeout,
                    step=f"{self.variant}: {name}",
                )
                break
            except pytest.fail.Exception:
                if attempt == attempts:
                    raise
                print(f"{self.variant}: {name} failed, trying again ({attempt}/{attempts})")
        self.timings.append((name, time.monotonic() - started))

    def summary(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.timings)


def required_services(answers: dict[str, Any], database: Database | None) -> list[tuple[str, int]]:
    services: list[tuple[str, int]] = []
    if database is not None and database.kind != "sqlite":
        services.append((database.service, database.port))
    if "redis" in (answers.get("broker"), answers.get("cache")):
        services.append(("Redis", 6379))
    if answers.get("broker") == "rabbitmq":
        services.append(("RabbitMQ", 5672))
    return services


def install_with_poetry(step: Steps, python: str) -> None:
    """`make install` for a Poetry project, in an environment on `python` (never downloaded)."""
    if not pypi_serves_poetry():
        # Only where PyPI lacks Poetry's JSON API: the project then reads it as a plain index.
        step(
            "poetry source add (PyPI here does not serve Poetry's JSON requests)",
            *("poetry", "source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE),
        )
    step("poetry env use", "poetry", "env", "use", python, timeout=120)
    step("poetry install", "poetry", "install", timeout=900, attempts=2)
    step("poetry check --lock", "poetry", "check", "--lock", timeout=120)
    assert (step.project / ".venv" / "bin" / "python").exists(), (
        f"{step.variant}: poetry install did not create .venv in the project (poetry.toml)"
    )


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant(
    variant: str,
    copie: Any,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    answers = {**VARIANTS[variant], "project_slug": VARIANT_SLUGS[variant]}
    result = copie.copy(extra_answers=answers)
    project = assert_rendered(result, f"the {variant!r} variant")
    answers = result.answers

    python = python_for(str(answers["python_version"]))
    env = clean_env(UV_PYTHON=python, UV_NO_PROGRESS="1", NO_COLOR="1")
    poetry = answers.get("package_manager") == "poetry"
    if poetry:
        # The Poetry release the project asks for; the Makefile and hooks call it from PATH.
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        bin_dir = poetry_bin(pyproject["tool"]["poetry"]["requires-poetry"])
        env.update(PATH=os.pathsep.join([str(bin_dir), env["PATH"]]), POETRY_NO_INTERACTION="1")
    run_in_venv = ("poetry", "run") if poetry else ("uv", "run")
    lock_file = "poetry.lock" if poetry else "uv.lock"
    step = Steps(variant, project, env)

    step("git init", "git", "init", "-q")
    step("git add", "git", "add", "-A")
    step("git commit", "git", *GIT_IDENTITY, "commit", "-q", "-m", "Generate from template")

    if poetry:
        install_with_poetry(step, python)
    else:
        step("uv sync", "uv", "sync", timeout=900, attempts=2)
    step("ruff check", *run_in_venv, "ruff", "check", ".", timeout=120)
    step("ruff format", *run_in_venv, "ruff", "format", "--check", ".", timeout=120)
    step("mypy", *run_in_venv, "mypy", ".", timeout=900)

    database: Database | None = None
    if answers.get("orm", "none") != "none":
        kind = str(answers.get("database", "postgresql"))
        url = parse_env_file(project / ".env").get("DATABASE_URL")
        assert url, f"{variant}: .env has no DATABASE_URL"
        database = Database.from_url(url, kind)
        expected = VARIANT_SLUGS[variant].replace("-", "_")
        assert expected in database.names[0], (
            f"{variant}: DATABASE_URL names {database.names[0]!r}, not one derived from the "
            f"slug {VARIANT_SLUGS[variant]!r}; variants would share a database"
        )

    for service, port in required_services(answers, database):
        host = database.host if database and service == database.service else "127.0.0.1"
        require_service(service, host, port)

    if database is not None and database.kind != "sqlite":
        database.names.append(f"{database.names[0]}_test")
        request.addfinalizer(database.drop_all)
        database.recreate(database.names[0])

    if database is not None:
        alembic = (*run_in_venv, "alembic")
        step("alembic upgrade head", *alembic, "upgrade", "head", timeout=180)
        step("alembic check", *alembic, "check", timeout=180)
        step("alembic downgrade base", *alembic, "downgrade", "base", timeout=180)
        step("alembic upgrade head again", *alembic, "upgrade", "head", timeout=180)

    step("pytest", *run_in_venv, "pytest", "-q", timeout=1200)

    step(f"git add ({lock_file})", "git", "add", "-A")
    step(
        "pre-commit",
        *(*run_in_venv, "pre-commit", "run", "--all-files", "--show-diff-on-failure"),
        timeout=900,
    )
    print(f"{variant}: {step.summary()}")

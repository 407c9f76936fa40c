"""A generated project's own checks, run the way its developers run them.

Shared by the variant tier (every check, for every variant) and the update tier (the checks
again after `copier update`). `ProjectChecks` installs the project with its package manager,
runs ruff, mypy and its test suite, and provisions the databases its .env names; each step is
labelled, timed and fails the test with the command's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from .availability import require_service
from .dependencies import lock_differences
from .files import parse_env_file
from .interpreters import python_for
from .package_index import PYPI_SIMPLE, pypi_serves_poetry
from .processes import clean_env, run, tool

# Commits made by the tests, whoever runs them: git needs an identity and must never prompt.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "template-tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "template-tests@example.com",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "commit.gpgsign",
    "GIT_CONFIG_VALUE_0": "false",
    "GIT_TERMINAL_PROMPT": "0",
}

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
                pytest.fail("psql is needed to create the project's databases", pytrace=False)
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
            pytest.fail(f"the tests cannot provision {self.kind} databases", pytrace=False)

    def _quote(self, name: str) -> str:
        return f"`{name}`" if self.kind == "mysql" else f'"{name}"'

    def _drop(self, name: str) -> str:
        force = " WITH (FORCE)" if self.kind == "postgresql" else ""
        return f"DROP DATABASE IF EXISTS {self._quote(name)}{force}"

    def recreate(self, name: str) -> None:
        self._execute([self._drop(name), f"CREATE DATABASE {self._quote(name)}"], "create database")

    def drop_all(self) -> None:
        self._execute([self._drop(name) for name in self.names], "drop databases")


class MypyCacheSeed:
    """mypy's cache, passed from the first project of a test run to the next ones.

    A cold `mypy .` spends about 30 s here analysing SQLAlchemy, Pydantic, Celery and the rest,
    the same packages in every variant. mypy checks each cached module against its source
    before it trusts it, so a project that starts from another project's cache reports what it
    would from cold, in a few seconds. The first project of each Python version to pass mypy
    publishes its cache; the others copy it in before they run mypy.
    """

    def __init__(self, root: Path, python_version: str) -> None:
        self.published = root / python_version
        self.python_version = python_version

    def _project_cache(self, project: Path) -> Path:
        return project / ".mypy_cache" / self.python_version

    def copy_into(self, project: Path) -> None:
        if self.published.is_dir():
            shutil.copytree(self.published, self._project_cache(project), dirs_exist_ok=True)

    def publish_from(self, project: Path) -> None:
        if self.published.exists():
            return
        staging = self.published.with_name(f".{self.python_version}-{os.getpid()}")
        shutil.copytree(self._project_cache(project), staging)
        try:
            staging.rename(self.published)
        except OSError:  # another xdist worker published first
            shutil.rmtree(staging)


class Steps:
    """Runs a project's steps in order, labelled with the project, and records their times."""

    def __init__(self, label: str, project: Path, env: dict[str, str]) -> None:
        self.label = label
        self.project = project
        self.env = env
        self.timings: list[tuple[str, float]] = []

    def __call__(self, name: str, *cmd: str, timeout: float = 300) -> None:
        started = time.monotonic()
        run(cmd, cwd=self.project, env=self.env, timeout=timeout, step=f"{self.label}: {name}")
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


class ProjectChecks:
    """The checks of one generated project, with its answers and package manager."""

    def __init__(
        self,
        label: str,
        project: Path,
        answers: dict[str, Any],
        poetry_bin: Callable[[str], Path],
        mypy_cache_seed: Path,
    ) -> None:
        self.project = project
        self.answers = answers
        self.mypy_cache = MypyCacheSeed(mypy_cache_seed, str(answers["python_version"]))
        self.poetry = answers.get("package_manager") == "poetry"
        self.python = python_for(str(answers["python_version"]))
        env = clean_env(UV_PYTHON=self.python, UV_NO_PROGRESS="1", NO_COLOR="1", **GIT_IDENTITY)
        if self.poetry:
            # The Poetry release the project asks for; the Makefile and hooks call it from PATH.
            pyproject = tomllib.loads((project / "pyproject.toml").read_text())
            bin_dir = poetry_bin(pyproject["tool"]["poetry"]["requires-poetry"])
            env.update(PATH=os.pathsep.join([str(bin_dir), env["PATH"]]), POETRY_NO_INTERACTION="1")
        self.run_in_venv = ("poetry", "run") if self.poetry else ("uv", "run")
        self.lock_file = "poetry.lock" if self.poetry else "uv.lock"
        self.step = Steps(label, project, env)

    def install(self) -> None:
        """`make install`: .venv in the project, and the lock file written on the first run."""
        step = self.step
        if not self.poetry:
            step("uv sync", "uv", "sync", timeout=900)
            return
        if not pypi_serves_poetry():
            # Only where PyPI lacks Poetry's JSON API: the project then reads it as a plain index.
            step(
                "poetry source add (PyPI here does not serve Poetry's JSON requests)",
                *("poetry", "source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE),
            )
        step("poetry env use", "poetry", "env", "use", self.python, timeout=120)
        step("poetry install", "poetry", "install", timeout=900)
        step("poetry check --lock", "poetry", "check", "--lock", timeout=120)
        assert (self.project / ".venv" / "bin" / "python").exists(), (
            f"{step.label}: poetry install did not create .venv in the project (poetry.toml)"
        )

    def assert_tested_versions(self) -> None:
        """The lock holds each direct dependency at the version of the template's table
        (extensions/dependencies.py): what this variant installs is what the table says was
        tested, and a raise in the table is tested by the variant tier."""
        differences = lock_differences(self.project, self.lock_file)
        assert not differences, (
            f"{self.step.label}: {self.lock_file} holds other versions than TESTED_VERSIONS in "
            f"extensions/dependencies.py (package: (tested, locked)): {differences}"
        )

    def lint_and_typecheck(self) -> None:
        """`make lint typecheck`."""
        self.step("ruff check", *self.run_in_venv, "ruff", "check", ".", timeout=120)
        self.step("ruff format", *self.run_in_venv, "ruff", "format", "--check", ".", timeout=120)
        self.mypy_cache.copy_into(self.project)
        self.step("mypy", *self.run_in_venv, "mypy", ".", timeout=900)
        self.mypy_cache.publish_from(self.project)

    def database(self, slug: str) -> Database | None:
        """The database server and name of the project's .env; None without an ORM.

        The name must derive from the project's slug, which each test chooses, so that tests
        running side by side never share a database.
        """
        if self.answers.get("orm", "none") == "none":
            return None
        kind = str(self.answers.get("database", "postgresql"))
        url = parse_env_file(self.project / ".env").get("DATABASE_URL")
        assert url, f"{self.step.label}: .env has no DATABASE_URL"
        database = Database.from_url(url, kind)
        expected = slug.replace("-", "_")
        assert expected in database.names[0], (
            f"{self.step.label}: DATABASE_URL names {database.names[0]!r}, not one derived from "
            f"the slug {slug!r}; tests would share a database"
        )
        return database

    def provision(self, database: Database | None, request: pytest.FixtureRequest) -> None:
        """Skip (fail in CI) unless the services the project needs answer, then create its
        development database and register the drop of it and of the suite's `_test` one."""
        for service, port in required_services(self.answers, database):
            host = database.host if database and service == database.service else "127.0.0.1"
            require_service(service, host, port)
        if database is not None and database.kind != "sqlite":
            database.names.append(f"{database.names[0]}_test")
            request.addfinalizer(database.drop_all)
            database.recreate(database.names[0])

    def migrate_and_test(self, database: Database | None) -> None:
        """`make migrate test`."""
        if database is not None:
            self.step(
                "alembic upgrade head", *self.run_in_venv, "alembic", "upgrade", "head", timeout=180
            )
        self.step("pytest", *self.run_in_venv, "pytest", "-q", timeout=1200)


def template_check(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/template_check.py with a Python that has Copier, as `make template-check`."""
    return run(
        [tool("python"), "scripts/template_check.py"],
        cwd=project,
        env=clean_env(**GIT_IDENTITY, **env),
        step="template check",
        check=False,
    )

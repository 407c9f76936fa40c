"""The official full-stack FastAPI template's backend as an optional row of the benchmark.

    uv run python -m tests.bench --reference PATH

PATH is a checkout of https://github.com/fastapi/full-stack-fastapi-template (its `backend/`
folder is what runs; 0.9.0 was measured). It is never committed here. The benchmark installs
the backend with uv, migrates a database of its own, creates the first superuser as the
reference's prestart script does, and serves `app.main:app` with the generated project's
uvicorn command and one worker, so both run the same server, packages aside, in one go.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.machine import HOST
from harness.processes import clean_env, run
from harness.provisioning import Provisioner

DATABASE = "tplbench_reference"
SUPERUSER = "bench-reference@example.com"
PASSWORD = "bench-reference-password"

# Our scenario -> the reference's request for the same work (method, path, expected status).
PATHS: Mapping[str, tuple[str, str, int]] = {
    "health": ("GET", "/api/v1/utils/health-check/", 200),
    "read_item": ("GET", "/api/v1/items/{item_id}", 200),
    "list_items": ("GET", "/api/v1/items/?limit=20", 200),
    "create_item": ("POST", "/api/v1/items/", 200),
}


class ReferenceError(RuntimeError):
    """The checkout cannot be benchmarked; the message says why."""


@dataclass(frozen=True)
class Reference:
    backend: Path
    venv_bin: Path
    env: dict[str, str]

    def app_arguments(self) -> list[str]:
        """What replaces `--factory app.main:create_app` in the project's server command."""
        return ["--app-dir", str(self.backend), "app.main:app"]


def prepare(checkout: Path, python: str) -> Reference:
    """Install, migrate and seed the superuser of the reference in `checkout`."""
    backend = checkout / "backend"
    if not (backend / "app" / "main.py").is_file():
        msg = f"{checkout} is not a checkout of the full-stack FastAPI template (no backend/app)"
        raise ReferenceError(msg)
    env = clean_env(
        PROJECT_NAME="Reference",
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        POSTGRES_SERVER=HOST,
        POSTGRES_PORT="5432",
        POSTGRES_USER="postgres",
        POSTGRES_DB=DATABASE,
        FIRST_SUPERUSER=SUPERUSER,
        FIRST_SUPERUSER_PASSWORD=PASSWORD,
        PYTHONPATH=str(backend),
        UV_PYTHON=python,
        UV_NO_PROGRESS="1",
    )
    print(f"reference: installing {backend}", flush=True)
    run(["uv", "sync", "--no-dev"], cwd=backend, env=env, timeout=900, step="reference uv sync")
    venv_bin = next(
        (
            folder / ".venv" / "bin"
            for folder in (backend, checkout)
            if (folder / ".venv" / "bin" / "alembic").exists()
        ),
        None,
    )
    if venv_bin is None:
        raise ReferenceError(f"uv sync in {backend} made no virtualenv with alembic")
    Provisioner(run=run).database("postgresql", DATABASE)
    run([venv_bin / "alembic", "upgrade", "head"], cwd=backend, env=env, step="reference migrate")
    run(
        [venv_bin / "python", "app/initial_data.py"],
        cwd=backend,
        env=env,
        step="reference superuser",
    )
    return Reference(backend, venv_bin, env)


def drop_database() -> None:
    Provisioner(run=run).database("postgresql", DATABASE, drop_only=True)


def login_form() -> str:
    return urllib.parse.urlencode({"username": SUPERUSER, "password": PASSWORD})

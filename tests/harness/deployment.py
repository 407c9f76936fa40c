"""What a deployment does to a rendered project before its stack starts.

The variant rendered with its own slug, the first superuser's password and the API keys'
digests chosen in .env, the runtime dependencies installed as the image's builder stage
installs them (with uv or Poetry), and, with auth=oidc, the project's own test identity
provider serving keys on 127.0.0.1 with .env pointing OIDC_ISSUER at it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .files import parse_env_file
from .package_index import PYPI_SIMPLE, pypi_serves_poetry
from .processes import run
from .rendering import VARIANTS, assert_rendered

# project_slug per variant for the stack runs; also the RabbitMQ vhost and compose project.
STACK_SLUGS = {name: f"tplstack-{name}" for name in VARIANTS}


def render_for_stack(variant: str, copie: Any) -> tuple[Path, dict[str, Any]]:
    answers = {**VARIANTS[variant], "project_slug": STACK_SLUGS[variant]}
    result = copie.copy(extra_answers=answers)
    project = assert_rendered(result, f"the {variant!r} variant")
    choose_superuser_password(project)
    return project, result.answers


def choose_superuser_password(project: Path) -> None:
    """Give the first superuser a password in .env, as a deployment would: without one, the
    stack's `migrate` service creates it with a generated password that only its log shows."""
    env_file = project / ".env"
    if "FIRST_SUPERUSER_EMAIL" in parse_env_file(env_file):
        password = secrets.token_urlsafe(18)
        env_file.write_text(f"{env_file.read_text()}FIRST_SUPERUSER_PASSWORD={password}\n")


def admit_api_key(project: Path, answers: Mapping[str, Any]) -> str | None:
    """With API keys in settings (no database), a fresh key whose digest .env now configures,
    as a deployment would; the stack reads .env when it starts."""
    if answers.get("auth") != "api_key" or answers.get("orm", "none") != "none":
        return None
    key = f"ak_{secrets.token_urlsafe(32)}"
    digests = json.dumps({"smoke": hashlib.sha256(key.encode()).hexdigest()})
    env_file = project / ".env"
    kept = [line for line in env_file.read_text().splitlines() if not line.startswith("API_KEY_")]
    env_file.write_text("\n".join([*kept, f"API_KEY_DIGESTS='{digests}'"]) + "\n")
    return key


def package_manager(
    project: Path,
    answers: Mapping[str, Any],
    python: str,
    env: Mapping[str, str],
    poetry_bin: Callable[[str], Path],
) -> Callable[..., None]:
    """Runs the project's package manager (`uv ...` or `poetry ...`) in the project."""
    if answers.get("package_manager", "uv") == "uv":
        return lambda *args: run(["uv", *args], cwd=project, env=env, timeout=900, step=args[0])
    requirement = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["poetry"]
    poetry_env = {
        **env,
        "PATH": os.pathsep.join([str(poetry_bin(requirement["requires-poetry"])), env["PATH"]]),
        "POETRY_NO_INTERACTION": "1",
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
    }

    def poetry(*args: str) -> None:
        run(["poetry", *args], cwd=project, env=poetry_env, timeout=900, step=f"poetry {args[0]}")

    if not pypi_serves_poetry():  # see harness/package_index.py
        poetry("source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE)
    poetry("env", "use", python)
    return poetry


def install_runtime(manager: Callable[..., None], answers: Mapping[str, Any]) -> None:
    """Install what the Dockerfile's builder stage installs, the runtime dependencies only, into
    the project's .venv: a dependency the app needs but declares for development only fails
    here as it would in the container."""
    if answers.get("package_manager", "uv") == "uv":
        manager("sync", "--no-dev")
    else:
        manager("install", "--only", "main", "--no-root")


# Runs the project's test identity provider until stdin closes: prints its issuer and a token.
IDENTITY_PROVIDER_SCRIPT = """
import sys
from app.core.config import get_settings
from tests.identity_provider import serve
with serve(audience=get_settings().oidc_audience) as provider:
    print(provider.issuer)
    print(provider.token(sub="smoke", scope="items:read items:write"), flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def identity_provider(project: Path) -> Iterator[str]:
    """Serve an OIDC issuer on 127.0.0.1 and point the stack's .env at it; yields a token."""
    process = subprocess.Popen(
        [str(project / ".venv" / "bin" / "python"), "-c", IDENTITY_PROVIDER_SCRIPT],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        issuer, token = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:"), "the identity provider did not start"
        env_file = project / ".env"
        lines = [
            line
            for line in env_file.read_text().splitlines()
            if not line.startswith("OIDC_ISSUER=")
        ]
        env_file.write_text("\n".join([*lines, f"OIDC_ISSUER={issuer}", ""]))
        yield token
    finally:
        process.communicate(input="", timeout=15)

"""Commands run by the tests: their environment, and a failure that shows the output's tail."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from .interpreters import pyenv_global_versions

VENV_BIN = Path(sys.executable).parent
OUTPUT_TAIL_LINES = 60


def _tail(text: str | bytes | None, lines: int = OUTPUT_TAIL_LINES) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(kept)


def _describe(
    cmd: Sequence[str | os.PathLike[str]],
    cwd: Path | str,
    headline: str,
    stdout: str | bytes | None,
    stderr: str | bytes | None,
) -> str:
    parts = [
        headline,
        f"command: {shlex.join(str(part) for part in cmd)}",
        f"cwd: {cwd}",
    ]
    for name, stream in (("stdout", stdout), ("stderr", stderr)):
        tail = _tail(stream)
        if tail:
            parts.append(f"--- {name} (last {OUTPUT_TAIL_LINES} lines) ---\n{tail}")
        else:
            parts.append(f"--- {name}: empty ---")
    return "\n".join(parts)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    *,
    step: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on a non-zero exit or a timeout, fail the test with the output's tail."""
    label = f"[{step}] " if step else ""
    try:
        result = subprocess.run(
            [str(part) for part in cmd],
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            _describe(cmd, cwd, f"{label}timed out after {timeout:g}s", error.stdout, error.stderr),
            pytrace=False,
        )
    except OSError as error:
        pytest.fail(f"{label}could not start {shlex.join(map(str, cmd))}: {error}", pytrace=False)
    if check and result.returncode != 0:
        pytest.fail(
            _describe(
                cmd, cwd, f"{label}exit code {result.returncode}", result.stdout, result.stderr
            ),
            pytrace=False,
        )
    return result


def tool(name: str) -> str:
    """An executable of the template repository's own environment (ruff, check-jsonschema)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    if found := shutil.which(name):
        return found
    pytest.fail(f"{name} is not installed in the template's environment; run `uv sync`")


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment for commands run inside a generated project.

    Drops what belongs to this test run (the template repo's virtualenv and its PATH entry,
    pytest and xdist variables) and never lets uv download an interpreter. Python writes its
    bytecode cache even where the shell says not to (PYTHONDONTWRITEBYTECODE): without it every
    process of a project (pytest, alembic, each Celery worker) compiles its imports again,
    seconds each on a 2-core machine.
    """
    dropped = {
        "VIRTUAL_ENV",
        "UV_PROJECT_ENVIRONMENT",
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith(("PYTEST_", "COV_CORE_"))
    }
    if own_venv := os.environ.get("VIRTUAL_ENV"):
        env["PATH"] = os.pathsep.join(
            entry
            for entry in env.get("PATH", "").split(os.pathsep)
            if not entry.startswith(own_venv)
        )
    env["UV_PYTHON_DOWNLOADS"] = "never"
    if "PYENV_VERSION" not in env and (versions := pyenv_global_versions()):
        env["PYENV_VERSION"] = versions
    env.update(overrides)
    return env

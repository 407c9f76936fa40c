"""Python interpreters of this machine, found on PATH or under pyenv."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

from .availability import unavailable


def _pyenv_root() -> Path:
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        try:
            out = subprocess.run(
                [pyenv, "root"], capture_output=True, text=True, timeout=10, check=True
            )
            return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    return Path.home() / ".pyenv"


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/versions/(\d+(?:\.\d+)*)/", path)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _interpreter(candidate: str, version: str) -> str | None:
    """The real executable behind `candidate` when it runs Python `version`.

    pyenv shims exist for every installed version but fail for inactive ones, and resolve
    differently per directory, so each candidate is run and resolved to its real path (the
    base interpreter when the candidate belongs to a virtualenv, like this repo's .venv).
    """
    probe = (
        "import sys, platform; print(platform.python_version()); "
        "venv = sys.prefix != sys.base_prefix; "
        "print(getattr(sys, '_base_executable', sys.executable) if venv else sys.executable)"
    )
    try:
        out = subprocess.run(
            [candidate, "-c", probe], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or not lines[0].startswith(f"{version}."):
        return None
    return lines[1]


@functools.cache
def find_python(version: str) -> str | None:
    """Path of an interpreter for `version` ("3.12"), or None when none is installed."""
    candidates: list[str] = []
    if on_path := shutil.which(f"python{version}"):
        candidates.append(on_path)
    pattern = str(_pyenv_root() / "versions" / f"{version}.*" / "bin" / f"python{version}")
    candidates += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    candidates += [f"/usr/local/bin/python{version}", f"/usr/bin/python{version}"]
    for candidate in dict.fromkeys(candidates):
        if Path(candidate).exists() and (found := _interpreter(candidate, version)):
            return found
    return None


def python_for(version: str) -> str:
    """Interpreter for `version`; skips (fails in CI) when the machine has none."""
    if (found := find_python(version)) is None:
        unavailable(f"no Python {version} interpreter found on PATH or under {_pyenv_root()}")
    return found


@functools.cache
def pyenv_global_versions() -> str | None:
    """pyenv's global versions, as PYENV_VERSION spells them ("3.11.7" or "3.11.7:3.12.1").

    A generated uv project pins its Python in .python-version, and a pyenv shim run inside it
    looks for its command in that version only: a uv installed with pip into the global version
    would not be found. Commands run with PYENV_VERSION set (as `uv run pytest` through the shim
    does), so the shims resolve as they do outside the project; uv itself gets the project's
    interpreter from UV_PYTHON.
    """
    if (pyenv := shutil.which("pyenv")) is None:
        return None
    try:
        out = subprocess.run(
            [pyenv, "global"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return ":".join(out.split()) or None

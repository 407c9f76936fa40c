"""Shared helpers and fixtures for the template's own test suite.

The helpers are plain functions so test modules can import them (`from conftest import run`);
the fixtures render projects with pytest-copie.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from matrix import variants

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# Variant name -> answers on top of copier's defaults: flagships plus the pairwise matrix.
VARIANTS: dict[str, dict[str, Any]] = variants()

# Directories that tools create inside a rendered project; never part of the render itself.
GENERATED_DIRS = frozenset(
    {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
)

OUTPUT_TAIL_LINES = 60


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine, fail in CI: CI must have every service and interpreter."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_service(name: str, host: str, port: int, timeout: float = 3.0) -> None:
    """Skip (or fail in CI) unless something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as error:
        unavailable(f"{name} unreachable at {host}:{port}: {error}")


# ---------------------------------------------------------------- interpreters


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


# ---------------------------------------------------------------- package index


PYPI_SIMPLE = "https://pypi.org/simple/"
PYPI_JSON = "https://pypi.org/pypi/"


@functools.cache
def pypi_serves_poetry() -> bool:
    """Whether PyPI answers the JSON requests Poetry's PyPI source makes, as pypi.org does.

    Poetry finds versions in the simple API's JSON form (PEP 691) and reads each release from
    `/pypi/<name>/<version>/json`. A mirror or proxy that lacks either (this template's own
    machines reach PyPI through one; what it lacks has changed over time) breaks `poetry lock`
    with "Package ... not found", though pip and uv are fine with it.
    """
    simple = urllib.request.Request(
        f"{PYPI_SIMPLE}pip/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(simple, timeout=30) as response:
            if "json" not in response.headers.get("Content-Type", ""):
                return False
        with urllib.request.urlopen(f"{PYPI_JSON}pip/json", timeout=30) as response:
            version = json.load(response)["info"]["version"]
        with urllib.request.urlopen(f"{PYPI_JSON}pip/{version}/json", timeout=30) as response:
            return response.status == 200
    except (OSError, ValueError, KeyError):
        return False


# ---------------------------------------------------------------- subprocesses


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
    if "PYENV_VERSION" not in env and (versions := _pyenv_global_versions()):
        env["PYENV_VERSION"] = versions
    env.update(overrides)
    return env


@functools.cache
def _pyenv_global_versions() -> str | None:
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


@pytest.fixture(scope="session")
def poetry_bin(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A directory holding a `poetry` executable that satisfies a version requirement.

    Poetry is installed from PyPI with uv, into a tool environment made once per requirement
    and session (uv's cache makes that a few seconds). Put the directory on PATH: the generated
    Makefile and pre-commit hooks call `poetry` by name. It holds nothing else, so the tool
    environment's own `python` never shadows the interpreters on PATH.
    """
    made: dict[str, Path] = {}

    def _install(requirement: str) -> Path:
        if requirement not in made:
            root = tmp_path_factory.mktemp("poetry-tool")
            env = clean_env(UV_NO_PROGRESS="1")
            venv = root / "venv"
            run(["uv", "venv", "-q", "--python", sys.executable, venv], cwd=root, env=env)
            python = venv / "bin" / "python"
            spec = f"poetry{requirement}"
            run(["uv", "pip", "install", "-q", "--python", python, spec], cwd=root, env=env)
            bin_dir = root / "bin"
            bin_dir.mkdir()
            (bin_dir / "poetry").symlink_to(venv / "bin" / "poetry")
            made[requirement] = bin_dir
        return made[requirement]

    return _install


@pytest.fixture(scope="session")
def mypy_cache_seed(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A directory this test run's xdist workers share, for mypy's cache (projects.py)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base directory sits in the run's own shared one.
    shared = base if worker_id == "master" else base.parent
    root = shared / "mypy-cache-seed"
    root.mkdir(exist_ok=True)
    return root


# ---------------------------------------------------------------- rendered projects


def iter_project_files(root: Path) -> Iterator[Path]:
    """Every file of a rendered project, skipping caches and environments tools create."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in GENERATED_DIRS)
        for filename in sorted(filenames):
            yield Path(dirpath) / filename


def read_text_file(path: Path) -> str | None:
    """The file's text, or None for binary files."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class TolerantLoader(yaml.SafeLoader):
    """SafeLoader that accepts application tags (`!reference`, `!include`, ...) as plain data."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return None


TolerantLoader.add_multi_constructor("!", _any_tag)


def load_yaml_documents(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=TolerantLoader))


def load_copier_config() -> dict[str, Any]:
    """copier.yml as one mapping (copier allows several YAML documents)."""
    config: dict[str, Any] = {}
    for document in load_yaml_documents((TEMPLATE_ROOT / "copier.yml").read_text()):
        if isinstance(document, dict):
            config.update(document)
    return config


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in {"'", '"'}:
            value = value[1:-1]
        values[key.strip()] = value
    return values


def render_failure(result: Any, what: str) -> str:
    """A readable reason for a failed render, with copier's traceback."""
    error = result.exception
    details = ""
    if isinstance(error, BaseException):
        details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return f"rendering {what} failed with exit code {result.exit_code}: {error!r}\n{details}"


def assert_rendered(result: Any, what: str) -> Path:
    if result.exit_code != 0 or result.exception is not None or result.project_dir is None:
        pytest.fail(render_failure(result, what), pytrace=False)
    return Path(result.project_dir)


def variant_params(*names: str) -> list[Any]:
    """Parameters for render-tier tests: one id per variant, one xdist group per variant so
    each worker renders a variant once."""
    return [
        pytest.param(name, id=name, marks=pytest.mark.xdist_group(f"render-{name}"))
        for name in (names or tuple(VARIANTS))
    ]


@pytest.fixture(scope="session")
def render_variant(copie_session: Any) -> Callable[[str], Any]:
    """Render a named variant once per session (per xdist worker) and return copie's Result."""
    results: dict[str, Any] = {}

    def _render(name: str) -> Any:
        if name not in results:
            results[name] = copie_session.copy(extra_answers=VARIANTS[name])
        result = results[name]
        assert_rendered(result, f"the {name!r} variant")
        return result

    return _render


@pytest.fixture(scope="session")
def default_project(render_variant: Callable[[str], Any]) -> Path:
    """The project rendered once with copier's default answers."""
    return Path(render_variant("default").project_dir)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the slow variant tier first so it overlaps with the fast tiers under xdist."""
    items.sort(key=lambda item: item.get_closest_marker("variant") is None)

"""Fixtures for the template's own test suite.

The helpers the tests and the benchmark share are the `harness` package next to this file
(`from harness.processes import run`); this module holds only fixtures and collection hooks.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.processes import clean_env, run
from harness.rendering import VARIANTS, assert_rendered


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
    """A directory this test run's xdist workers share, for mypy's cache
    (harness/project_checks.py)."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base directory sits in the run's own shared one.
    shared = base if worker_id == "master" else base.parent
    root = shared / "mypy-cache-seed"
    root.mkdir(exist_ok=True)
    return root


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

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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.project_checks import ProjectChecks
from harness.rendering import VARIANTS, assert_rendered

pytestmark = pytest.mark.variant

# project_slug per variant: the only answer the variant tier adds to a variant's answers.
VARIANT_SLUGS = {name: f"tplvar-{name}" for name in VARIANTS}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant(
    variant: str,
    copie: Any,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
    mypy_cache_seed: Path,
) -> None:
    answers = {**VARIANTS[variant], "project_slug": VARIANT_SLUGS[variant]}
    result = copie.copy(extra_answers=answers)
    project = assert_rendered(result, f"the {variant!r} variant")
    checks = ProjectChecks(variant, project, result.answers, poetry_bin, mypy_cache_seed)
    step = checks.step

    step("git init", "git", "init", "-q")
    step("git add", "git", "add", "-A")
    step("git commit", "git", "commit", "-q", "-m", "Generate from template")

    checks.install()
    checks.assert_tested_versions()
    checks.lint_and_typecheck()
    database = checks.database(VARIANT_SLUGS[variant])
    checks.provision(database, request)

    if database is not None:
        alembic = (*checks.run_in_venv, "alembic")
        step("alembic upgrade head", *alembic, "upgrade", "head", timeout=180)
        step("alembic check", *alembic, "check", timeout=180)
        step("alembic downgrade base", *alembic, "downgrade", "base", timeout=180)
        step("alembic upgrade head again", *alembic, "upgrade", "head", timeout=180)

    step("pytest", *checks.run_in_venv, "pytest", "-q", timeout=1200)

    step(f"git add ({checks.lock_file})", "git", "add", "-A")
    step(
        "pre-commit",
        *(*checks.run_in_venv, "pre-commit", "run", "--all-files", "--show-diff-on-failure"),
        timeout=900,
    )
    print(f"{variant}: {step.summary()}")

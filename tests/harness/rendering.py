"""Rendering the template: the named variants, copier's outcome, and its CLI refusing answers."""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from .matrix import variants
from .processes import clean_env, run
from .template import TEMPLATE_ROOT

# Variant name -> answers on top of copier's defaults: flagships plus the pairwise matrix.
VARIANTS: dict[str, dict[str, Any]] = variants()


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


def copier_copy(
    tmp_path: Path, answers: dict[str, Any]
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Run copier's CLI on the working tree with `answers`; (output directory, the process)."""
    out = tmp_path / "out"
    data = [arg for name, value in answers.items() for arg in ("-d", f"{name}={value}")]
    cmd = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref=HEAD"]
    result = run(
        [*cmd, *data, str(TEMPLATE_ROOT), str(out)],
        cwd=tmp_path,
        env=clean_env(NO_COLOR="1"),
        timeout=120,
        check=False,
    )
    return out, result


def normalize(text: str) -> str:
    """CLI output without colours, its whitespace runs as single spaces."""
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


def assert_refused_cleanly(out: Path, output: str) -> None:
    """A refused answer printed no traceback and wrote nothing."""
    if "Traceback" in output:
        pytest.fail(
            f"copier printed a traceback instead of only the validator's sentence:\n"
            f"{output[-3000:]}",
            pytrace=False,
        )
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    assert not written, f"files were written although an answer was refused: {written[:20]}"

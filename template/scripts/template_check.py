"""Compare this project with the template it was generated from (`make template-check`).

1. `copier check-update` says whether a newer template version exists.
2. The template version recorded in .copier-answers.yml (`_commit`) is rendered again with the
   recorded answers into a temporary directory, and every file of that rendering is compared
   with the project's copy. Files git ignores (such as .env) are skipped.
3. The files that differ are listed in two groups: house-owned files, which the organisation
   declares in `[tool.template-check] house-owned` (glob patterns) and projects must not change,
   and every other file, which the project owns and may change. The house-owned list is read
   from the template's rendering, so a project cannot drop a file from it; a project can add
   patterns in its own pyproject.toml.

Exit status: 0 when no house-owned file differs, 1 when one does, 2 when the check cannot run.

Copier is not a dependency of the project: it runs with `uvx` from PyPI, or with the command
in the TEMPLATE_CHECK_COPIER environment variable (for example "copier" when it is installed).
"""

import difflib
import fnmatch
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from template_copier import COPIER

ANSWERS_FILE = ".copier-answers.yml"


class CheckError(Exception):
    """The check could not run; the message says why."""


def copier_command() -> list[str]:
    return shlex.split(os.environ.get("TEMPLATE_CHECK_COPIER", COPIER))


def run(command: list[str], cwd: Path, what: str) -> str:
    """Run a command and return its output; raise CheckError naming `what` when it fails."""
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as error:
        message = f"cannot {what}: {command[0]} did not start ({error})"
        raise CheckError(message) from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        message = f"cannot {what} ({shlex.join(command)} exited with {result.returncode}):\n"
        raise CheckError(message + output)
    return result.stdout


def render_recorded_version(project: Path, destination: Path) -> None:
    """Render the recorded template version with the recorded answers into `destination`."""
    shutil.copy2(project / ANSWERS_FILE, destination / ANSWERS_FILE)
    recopy = ["recopy", "--trust", "--defaults", "--overwrite", "--quiet", "--skip-tasks"]
    run(
        [*copier_command(), *recopy, "--vcs-ref=:current:", str(destination)],
        cwd=project,
        what="render the recorded template version",
    )


def rendered_files(root: Path) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(root).parts
    )


def ignored_by_git(project: Path, paths: list[str]) -> set[str]:
    """The paths git ignores in the project (untracked local files such as .env)."""
    result = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        cwd=project,
        input="\n".join(paths),
        capture_output=True,
        text=True,
        check=False,
    )
    return set(result.stdout.splitlines())


def house_owned_patterns(*pyprojects: Path) -> list[str]:
    patterns: list[str] = []
    for pyproject in pyprojects:
        if pyproject.is_file():
            config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            declared = config.get("tool", {}).get("template-check", {}).get("house-owned", [])
            patterns += [str(pattern) for pattern in declared]
    return patterns


def is_house_owned(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


def difference(project: Path, rendering: Path, path: str) -> str | None:
    """None when the project's file equals the rendered one, else a short description."""
    mine = project / path
    if not mine.is_file():
        return "deleted"
    if mine.read_bytes() == (rendering / path).read_bytes():
        return None
    return "changed"


def unified_diff(project: Path, rendering: Path, path: str) -> str:
    template = (rendering / path).read_text(encoding="utf-8", errors="replace").splitlines()
    mine = project / path
    ours = mine.read_text(encoding="utf-8", errors="replace").splitlines() if mine.is_file() else []
    lines = difflib.unified_diff(template, ours, f"template/{path}", f"project/{path}", lineterm="")
    return "\n".join(lines)


def check(project: Path) -> int:
    if not (project / ANSWERS_FILE).is_file():
        message = f"{ANSWERS_FILE} not found in {project}: run this from the project's root"
        raise CheckError(message)
    print(run([*copier_command(), "check-update"], cwd=project, what="check for updates").strip())

    with tempfile.TemporaryDirectory(prefix="template-check-") as temporary:
        rendering = Path(temporary)
        render_recorded_version(project, rendering)
        paths = [path for path in rendered_files(rendering) if path != ANSWERS_FILE]
        ignored = ignored_by_git(project, paths)
        patterns = house_owned_patterns(rendering / "pyproject.toml", project / "pyproject.toml")
        drift = {
            path: change
            for path in paths
            if path not in ignored and (change := difference(project, rendering, path))
        }
        house = {path: change for path, change in drift.items() if is_house_owned(path, patterns)}
        diffs = [unified_diff(project, rendering, path) for path in house]

    owned = {path: change for path, change in drift.items() if path not in house}
    print(f"Compared {len(paths)} files with the recorded template version.")
    for title, files in (("Project-owned", owned), ("House-owned", house)):
        print(f"{title} files that differ from the template: {len(files)}")
        for path, change in files.items():
            print(f"  {path} ({change})")
    if not house:
        return 0
    print("\n".join(diffs))
    names = ", ".join(house)
    print(
        f"error: house-owned files differ from the template: {names}. Undo the change, or "
        "propose it to the template's owners and take it with `copier update`.",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    try:
        return check(Path.cwd())
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

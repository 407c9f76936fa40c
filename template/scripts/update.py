"""Update this project from its template (`make update`); fail while a conflict remains.

`copier update` exits 0 even when it leaves conflicts behind, so a script or CI job that trusts
its exit status commits conflict markers. This runs the update (Copier as template_copier.py
says, with `--trust --defaults` and the options given here), then looks for what a conflict
leaves, and lists every file with one:

- unmerged paths: files git's index records as conflicted ("Unmerged paths" in `git status`);
- conflict markers: a line starting `<<<<<<< ` or `>>>>>>> ` in a file git tracks or would
  add (not ignored), including files the update created;
- rejected changes: `.rej` files, which `--conflict=rej` writes instead of markers.

Usage, from the project's root with everything committed:

    python scripts/update.py                      # to the template's latest release
    python scripts/update.py --vcs-ref=v0.2.0     # or any `copier update` option
    python scripts/update.py --check              # only look for conflicts left behind

Exit status: 0 when no conflict remains, 1 when one does (the files are listed), 2 when the
update cannot run (the message says why). The environment variable TEMPLATE_UPDATE_COPIER
replaces the Copier command (for example "copier" when it is installed).
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from template_copier import COPIER

ANSWERS_FILE = ".copier-answers.yml"
MARKERS = "^(<<<<<<<|>>>>>>>)( |$)"
UNKNOWN_REVISION = re.compile(r"Unknown revision: '(?P<ref>[^']*)'")


class UpdateError(Exception):
    """The update could not run; the message says why."""


def git(project: Path, *args: str, allowed: tuple[int, ...] = (0,)) -> list[str]:
    """The output lines of a git command; raise UpdateError when it exits otherwise."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=project, capture_output=True, text=True, check=False
        )
    except OSError as error:
        message = f"git did not start ({error})"
        raise UpdateError(message) from error
    if result.returncode not in allowed:
        message = f"git {args[0]} failed in {project}: {result.stderr.strip()}"
        raise UpdateError(message)
    return result.stdout.splitlines()


def conflicts(project: Path) -> dict[str, list[str]]:
    """Each file with a conflict left in it, and what shows it."""
    found: dict[str, list[str]] = {}
    kinds = (
        ("unmerged", ("diff", "--name-only", "--diff-filter=U")),
        # Exit status 1: no file has a marker.
        ("conflict markers", ("grep", "-l", "-I", "--untracked", "-E", MARKERS)),
        # Untracked and ignored files too: a .gitignore may well ignore *.rej.
        ("rejected changes", ("ls-files", "--cached", "--others", "--", "*.rej")),
    )
    for kind, command in kinds:
        for path in git(project, *command, allowed=(0, 1)):
            if kind not in found.setdefault(path, []):
                found[path].append(kind)
    return dict(sorted(found.items()))


def template_source(project: Path) -> str:
    """The template's path or URL, as the answers file records it."""
    text = (project / ANSWERS_FILE).read_text(encoding="utf-8")
    match = re.search(r"^_src_path: *(.+)$", text, re.M)
    return match[1].strip().strip("'\"") if match else "the template"


def unknown_version(project: Path, ref: str) -> str:
    """A sentence for a --vcs-ref the template does not have, with the versions it has."""
    source = template_source(project)
    tags = subprocess.run(
        ["git", "ls-remote", "--tags", "--refs", source],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    versions = [tag.removeprefix("refs/tags/") for tag in tags if tag.startswith("refs/tags/")]
    listed = (
        f"its release tags are {', '.join(versions)}"
        if versions
        else "it has no release tags (a clone of the template's repository may need its tags "
        "restored: see the template's docs/releasing.md)"
    )
    return f"the template at {source} has no tag, branch or commit {ref!r}; {listed}."


def copier_command() -> list[str]:
    return shlex.split(os.environ.get("TEMPLATE_UPDATE_COPIER", COPIER))


def run_update(project: Path, options: list[str]) -> None:
    """`copier update --trust --defaults` with `options`; raise UpdateError when it fails."""
    if not (project / ANSWERS_FILE).is_file():
        message = f"{ANSWERS_FILE} not found in {project}: run this from the project's root"
        raise UpdateError(message)
    if changed := git(project, "status", "--porcelain"):
        listing = "\n".join(f"  {line}" for line in changed)
        message = f"commit or stash your changes first, the update needs a clean tree:\n{listing}"
        raise UpdateError(message)
    command = [*copier_command(), "update", "--trust", "--defaults", *options]
    try:
        result = subprocess.run(
            command, cwd=project, stderr=subprocess.PIPE, text=True, check=False
        )
    except OSError as error:
        message = f"{command[0]} did not start ({error}); is uv installed?"
        raise UpdateError(message) from error
    if result.returncode == 0:
        sys.stderr.write(result.stderr)
        return
    if match := UNKNOWN_REVISION.search(result.stderr):
        raise UpdateError(unknown_version(project, match["ref"]))
    sys.stderr.write(result.stderr)
    message = f"{shlex.join(command)} exited with {result.returncode}"
    raise UpdateError(message)


def report(project: Path) -> int:
    found = conflicts(project)
    if not found:
        print("No conflicts: review `git diff`, run `make check`, and commit the update.")
        return 0
    print(f"error: the update left conflicts in {len(found)} files:", file=sys.stderr)
    for path, kinds in found.items():
        print(f"  {path} ({', '.join(kinds)})", file=sys.stderr)
    print(
        "Merge each by hand (keep both sides' intentions), delete the .rej files, `git add` "
        "them, then run `make check`; `git reset --hard && git clean -fd` undoes the update.",
        file=sys.stderr,
    )
    return 1


def main(arguments: list[str]) -> int:
    project = Path.cwd()
    try:
        if arguments != ["--check"]:
            run_update(project, arguments)
        return report(project)
    except UpdateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

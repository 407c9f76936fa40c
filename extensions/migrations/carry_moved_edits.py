"""Carry a project's edits of moved files to their new homes: two `_migrations` steps.

Template 0.2.0 laid the application out as domain packages: `app/services/items.py` became
`app/items/service.py`, and so on (MOVES). `copier update` ends by deleting every file the old
version rendered and the new one does not, edited or not, so a team's edit of a moved file would
vanish without a conflict. These steps keep it:

    python carry_moved_edits.py save   # stage `before`: stash each edited file that will move
    python carry_moved_edits.py carry  # stage `after`: merge each stashed edit into its new home

`save` renders the project's recorded template version (`_commit` in the answers file) into a
temporary directory with the recorded answers, and for each moved file the project has and has
edited since, keeps that pristine render and the edited file under `.git/copier-moves/` (inside
git's own directory, so never in the project's tree). `carry` three-way merges each one into its
new path with `git merge-file`: the new template file with the team's changes applied, and
conflict markers (`<<<<<<< before updating` ... `>>>>>>> after updating`, as Copier writes them)
where a change touches lines the template changed too; such a file is also recorded as unmerged
in git's index. A file with no new home is restored, edited, at its old path. One line is printed
per carried file. Both steps need no network (the template's clone Copier made is rendered),
and are idempotent: `save` stashes nothing once the old paths are gone, and `carry` consumes the
stash.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Where 0.2.0 moved each file 0.1.0 rendered; None: no new home (a package that is gone).
MOVES: dict[str, str | None] = {
    "app/api/deps.py": "app/core/dependencies.py",
    "app/api/v1/__init__.py": None,
    "app/api/v1/endpoints/__init__.py": None,
    "app/api/v1/endpoints/auth.py": "app/accounts/auth_router.py",
    "app/api/v1/endpoints/items.py": "app/items/router.py",
    "app/api/v1/endpoints/users.py": "app/accounts/users_router.py",
    "app/api/v1/router.py": "app/api/router.py",
    "app/models/__init__.py": "app/models.py",
    "app/models/base.py": "app/core/models.py",
    "app/models/item.py": "app/items/models.py",
    "app/models/user.py": "app/accounts/models.py",
    "app/repositories/__init__.py": None,
    "app/repositories/items.py": "app/items/repository.py",
    "app/repositories/refresh_tokens.py": "app/accounts/refresh_tokens.py",
    "app/repositories/users.py": "app/accounts/repository.py",
    "app/schemas/__init__.py": None,
    "app/schemas/auth.py": "app/accounts/auth_schemas.py",
    "app/schemas/common.py": "app/core/schemas.py",
    "app/schemas/items.py": "app/items/schemas.py",
    "app/schemas/users.py": "app/accounts/schemas.py",
    "app/services/__init__.py": None,
    "app/services/auth.py": "app/accounts/authentication.py",
    "app/services/health.py": "app/core/health.py",
    "app/services/items.py": "app/items/service.py",
    "app/services/notifications.py": "app/accounts/notifications.py",
    "app/services/users.py": "app/accounts/service.py",
    "app/tasks/__init__.py": None,
    "app/tasks/maintenance.py": "app/accounts/tasks.py",
    "app/tasks/notifications.py": "app/accounts/tasks.py",
}
STASH = "copier-moves"
MANIFEST = "moves.json"


def git(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], input=stdin, capture_output=True, text=True, check=False)


def stash_dir() -> Path:
    """`.git/copier-moves` of the repository the project is in (its own git directory)."""
    found = git("rev-parse", "--absolute-git-dir")
    if found.returncode:
        raise SystemExit(f"carry_moved_edits: {Path.cwd()} is not in a git repository.")
    return Path(found.stdout.strip()) / STASH


def read_answers(answers_file: Path) -> dict[str, Any]:
    import yaml  # Copier's own dependency, in the interpreter Copier runs under

    answers = yaml.safe_load(answers_file.read_text(encoding="utf-8"))
    if not isinstance(answers, dict) or "_commit" not in answers:
        raise SystemExit(f"carry_moved_edits: {answers_file} records no template version.")
    return answers


def render(template: str, answers: dict[str, Any], paths: list[str], destination: Path) -> None:
    """`paths` as the project's recorded template version rendered them, with its recorded
    answers (only those: a third of the time of the whole project)."""
    import copier

    copier.run_copy(
        template,
        destination,
        data={key: value for key, value in answers.items() if not key.startswith("_")},
        vcs_ref=str(answers["_commit"]),
        exclude=["*", *(f"!{path}" for path in paths)],
        defaults=True,
        overwrite=True,
        quiet=True,
        unsafe=True,
        skip_tasks=True,
    )


def save(answers_file: Path, template: str | None) -> int:
    stash = stash_dir()
    shutil.rmtree(stash, ignore_errors=True)
    present = [old for old in MOVES if Path(old).is_file()]
    if not present:
        return 0
    answers = read_answers(answers_file)
    with tempfile.TemporaryDirectory(prefix="copier-moves.") as temporary:
        pristine = Path(temporary)
        sources = [source for source in (template, answers.get("_src_path")) if source]
        for number, source in enumerate(sources, start=1):
            try:
                render(source, answers, present, pristine)
                break
            except Exception as error:  # an old ref missing from Copier's clone: the next source
                if number == len(sources):
                    raise SystemExit(
                        f"carry_moved_edits: cannot render template version "
                        f"{answers['_commit']} to compare moved files with: {error}"
                    ) from error
        edited = [
            old
            for old in present
            if not (pristine / old).is_file()
            or (pristine / old).read_bytes() != Path(old).read_bytes()
        ]
        manifest = []
        for old in edited:
            for kind, source_file in (("pristine", pristine / old), ("edited", Path(old))):
                if source_file.is_file():
                    (stash / kind / old).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source_file, stash / kind / old)
            manifest.append({"old": old, "new": MOVES[old], "version": str(answers["_commit"])})
    if manifest:
        (stash / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        sys.stdout.write(f"Edited files this update moves: {', '.join(edited)}\n")
    return 0


def mark_unmerged(path: Path, base: Path, ours: Path, theirs: Path) -> None:
    """Record `path` as a conflict in git's index, as Copier does for its own inline conflicts:
    stage 1 the old version as rendered, 2 the project's, 3 the template's new file."""
    prefix = git("rev-parse", "--show-prefix").stdout.strip()
    lines = [f"0 {'0' * 40}\t{prefix}{path.as_posix()}"]
    for stage, version in ((1, base), (2, ours), (3, theirs)):
        sha = git("hash-object", "-w", "--", str(version)).stdout.strip()
        lines.append(f"100644 {sha} {stage}\t{prefix}{path.as_posix()}")
    git("update-index", "--index-info", stdin="\n".join(lines) + "\n")


def carry_one(stash: Path, old: str, new: str | None, version: str) -> str:
    edited, pristine = stash / "edited" / old, stash / "pristine" / old
    if Path(old).exists():  # the update kept it: Copier merged it where it is
        return f"{old}: kept where it is"
    if new is None or not Path(new).is_file():
        Path(old).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(edited, old)
        return f"{old}: has no new home in this version; your edited file is kept at {old}"
    new_file = Path(new)
    with tempfile.TemporaryDirectory(prefix="copier-moves.") as temporary:
        theirs = Path(temporary) / "after"
        shutil.copy2(new_file, theirs)
        base = pristine if pristine.is_file() else Path(temporary) / "empty"
        base.touch()
        merged = git(
            "merge-file",
            "--stdout",
            "-L",
            "before updating",
            "-L",
            f"{version} as rendered",
            "-L",
            "after updating",
            "--",
            str(edited),
            str(base),
            str(theirs),
        )
        if merged.returncode < 0 or merged.returncode > 127:
            return f"{old}: could not merge into {new} ({merged.stderr.strip()}); kept at {old}"
        new_file.write_text(merged.stdout, encoding="utf-8")
        if merged.returncode:
            mark_unmerged(new_file, base, edited, theirs)
            return f"{old}: your edits carried to {new}, with conflicts to merge by hand"
    return f"{old}: your edits carried to {new}"


def carry() -> int:
    stash = stash_dir()
    manifest_file = stash / MANIFEST
    if not manifest_file.is_file():
        shutil.rmtree(stash, ignore_errors=True)
        return 0
    for entry in json.loads(manifest_file.read_text(encoding="utf-8")):
        sys.stdout.write(carry_one(stash, entry["old"], entry["new"], entry["version"]) + "\n")
    shutil.rmtree(stash)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["save", "carry"], help="save (before), carry (after)")
    parser.add_argument("--answers-file", type=Path, default=Path(".copier-answers.yml"))
    parser.add_argument("--template", help="a clone of the template holding the old version")
    args = parser.parse_args(argv)
    if args.step == "save":
        return save(args.answers_file, args.template)
    return carry()


if __name__ == "__main__":
    sys.exit(main())

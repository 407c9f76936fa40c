"""The template's releases, as CHANGELOG.md records them, and their tags restored in any clone.

Projects update from release tags (`copier update` takes the latest, `--vcs-ref=v0.1.0` a given
one), but tags do not travel with every clone, fork or mirror. So each release is recorded in
the repository itself: its CHANGELOG.md heading, `## [X.Y.Z] - date`, is followed by the line

    Release commit: <40 hex digits> (tag `vX.Y.Z`).

naming the commit its tag points to. This module reads those records and makes the tags:

    uv run python -m tests.harness.releases          # create the missing tags; exit 1 on a problem
    uv run python -m tests.harness.releases --check  # only say whether every tag is there

A tag that exists must point to its recorded commit (a moved tag would change what projects
render for that version), and each recorded commit must be one whose CHANGELOG.md has that
release's heading. Tags made here are lightweight; `docs/releasing.md` says how to record a
release.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent.parent
CHANGELOG = "CHANGELOG.md"
HEADING = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\]", re.M)
RECORD = re.compile(r"^Release commit: (?P<commit>[0-9a-f]{40}) \(tag `v(?P<version>[^`]+)`\)\.$")


class ReleaseError(Exception):
    """A release record or tag is wrong; the message says which and what to do."""


@dataclass(frozen=True)
class Release:
    version: str
    commit: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def recorded_releases(changelog: str) -> list[Release]:
    """The releases of a CHANGELOG.md text, newest first; every release heading needs a record."""
    releases = []
    headings = list(HEADING.finditer(changelog))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        version = heading["version"]
        section = changelog[heading.end() : following.start() if following else len(changelog)]
        records = [match for line in section.splitlines() if (match := RECORD.match(line))]
        if len(records) != 1 or records[0]["version"] != version:
            message = (
                f"{CHANGELOG}: release {version} needs exactly one line 'Release commit: <commit> "
                f"(tag `v{version}`).' under its heading (docs/releasing.md); found {len(records)}"
            )
            raise ReleaseError(message)
        releases.append(Release(version, records[0]["commit"]))
    return releases


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)


def tagged_commit(repo: Path, tag: str) -> str | None:
    found = git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}")
    return found.stdout.strip() if found.returncode == 0 else None


def check_record(repo: Path, release: Release) -> None:
    """The recorded commit is in this clone and is the release: its changelog has the heading."""
    if git(repo, "cat-file", "-e", f"{release.commit}^{{commit}}").returncode != 0:
        message = (
            f"release {release.version}: commit {release.commit} is not in this clone "
            "(a shallow clone? `git fetch --unshallow` brings the history)"
        )
        raise ReleaseError(message)
    changelog = git(repo, "show", f"{release.commit}:{CHANGELOG}").stdout
    if release.version not in [match["version"] for match in HEADING.finditer(changelog)]:
        message = (
            f"release {release.version}: {CHANGELOG} at commit {release.commit[:12]} has no "
            f"'## [{release.version}]' heading, so that commit is not the release; correct "
            "the record"
        )
        raise ReleaseError(message)


def restore_tags(repo: Path = TEMPLATE_ROOT, *, create: bool = True) -> list[str]:
    """Check every recorded release and create its missing tag; one line per release."""
    releases = recorded_releases((repo / CHANGELOG).read_text(encoding="utf-8"))
    lines = []
    for release in releases:
        check_record(repo, release)
        existing = tagged_commit(repo, release.tag)
        if existing == release.commit:
            lines.append(f"{release.tag} {release.commit[:12]} (present)")
        elif existing is not None:
            message = (
                f"tag {release.tag} points to {existing[:12]}, but {CHANGELOG} records release "
                f"{release.version} as {release.commit[:12]}; a moved tag changes what projects "
                f"render for that version: `git tag -f {release.tag} {release.commit[:12]}`"
            )
            raise ReleaseError(message)
        elif not create:
            command = "uv run python -m tests.harness.releases"
            message = f"tag {release.tag} is missing: `{command}` makes it"
            raise ReleaseError(message)
        else:
            made = git(repo, "tag", release.tag, release.commit)
            if made.returncode != 0:
                message = f"cannot create tag {release.tag}: {made.stderr.strip()}"
                raise ReleaseError(message)
            lines.append(f"{release.tag} {release.commit[:12]} (created)")
    return lines


def main(arguments: list[str]) -> int:
    if arguments not in ([], ["--check"]):
        print("usage: python -m tests.harness.releases [--check]", file=sys.stderr)
        return 2
    try:
        lines = restore_tags(create=arguments != ["--check"])
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(lines) or f"{CHANGELOG} records no release yet")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

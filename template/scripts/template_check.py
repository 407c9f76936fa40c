"""Check this project against its templates and the platform team's policy (`make template-check`).

1. `copier check-update` says whether a newer version of each template exists.
2. Each template layer is rendered again, at the version and with the answers its answers file
   records, into a temporary directory: this template (.copier-answers.yml) and any template
   applied on top of it with its own answers file (.copier-answers.<name>.yml, such as a
   platform team's house template). Every rendered file is compared with the project's copy;
   files git ignores (such as .env) are skipped.
3. The policy is read: the file named by the TEMPLATE_POLICY environment variable (a path or an
   https URL), or else template-policy.yml as a layer renders it (a fork's or a house
   template's). The project's own copy is never read, so a project cannot loosen it. Its
   top-level keys are answers every project must record; `template_check.minimum_version` is
   the oldest template release allowed; `template_check.house_owned` adds file patterns.
4. House-owned files must not differ from the rendering: those matching a pattern of
   `[tool.template-check] house-owned` (the template's list and the project's additions) or of
   the policy, and every file a house layer renders. Other files belong to the project and are
   listed for review only.

Exit status: 0 when the project follows the policy and no house-owned file differs, 1 when it
does not (each finding names the answer, the version or the file), 2 when the check cannot run.

`make template-check` runs this with the Python Copier is installed in (through uvx), so it
needs nothing from the project's environment and leaves nothing in the project. The
TEMPLATE_CHECK_COPIER environment variable replaces the Copier command (for example "copier").
"""

import difflib
import fnmatch
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

ANSWERS_FILE = ".copier-answers.yml"
LAYER_ANSWERS_FILES = ".copier-answers.*.yml"
POLICY_FILE = "template-policy.yml"
POLICY_SECTION = "template_check"
POLICY_SETTINGS = {"minimum_version", "house_owned"}


def copiers_module(name: str) -> Any:
    """A module Copier depends on: `make template-check` runs this with Copier's Python."""
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"error: {name} is missing; run this with `make template-check`", file=sys.stderr)
        raise SystemExit(2) from None


yaml = copiers_module("yaml")
version = copiers_module("packaging.version")


class CheckError(Exception):
    """The check could not run; the message says why."""


def copier_command() -> list[str]:
    if command := os.environ.get("TEMPLATE_CHECK_COPIER"):
        return shlex.split(command)
    return [sys.executable, "-m", "copier"]


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


def load_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        message = f"{source} is not valid YAML: {error}"
        raise CheckError(message) from error
    if not isinstance(data, dict):
        message = f"{source} must be a mapping of names to values"
        raise CheckError(message)
    return data


def answers_files(project: Path) -> list[str]:
    """This template's answers file first, then those of the layers applied on top of it."""
    layers = sorted(path.name for path in project.glob(LAYER_ANSWERS_FILES))
    return [ANSWERS_FILE, *layers]


def render_recorded_version(project: Path, layer: str, destination: Path) -> None:
    """Render one layer at its recorded version with its recorded answers into `destination`.

    Every answers file goes along, so a layer reading another's answers (`_external_data`)
    finds them as it does in the project.
    """
    for name in answers_files(project):
        shutil.copy2(project / name, destination / name)
    recopy = ["recopy", "--trust", "--defaults", "--overwrite", "--quiet", "--skip-tasks"]
    options = [f"--answers-file={layer}", "--vcs-ref=:current:"]
    run(
        [*copier_command(), *recopy, *options, str(destination)],
        cwd=project,
        what=f"render the template version recorded in {layer}",
    )


def rendered_files(root: Path, skipped: list[str]) -> list[str]:
    return sorted(
        relative
        for path in root.rglob("*")
        if path.is_file()
        and ".git" not in path.relative_to(root).parts
        and (relative := path.relative_to(root).as_posix()) not in skipped
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


def read_policy(renderings: dict[str, Path]) -> tuple[str, dict[str, Any]] | None:
    """The policy's source and contents: TEMPLATE_POLICY, else the layers' template-policy.yml."""
    if location := os.environ.get("TEMPLATE_POLICY"):
        if "://" in location and not location.startswith("https://"):
            message = (
                f"TEMPLATE_POLICY takes an https URL or a local path, not {location}: a policy "
                "fetched without TLS could be altered on its way"
            )
            raise CheckError(message)
        if location.startswith("https://"):
            try:
                with urllib.request.urlopen(location, timeout=30) as response:  # noqa: S310
                    text = response.read().decode()
            except OSError as error:
                message = f"cannot read the policy at {location} (TEMPLATE_POLICY): {error}"
                raise CheckError(message) from error
        else:
            path = Path(location).expanduser()
            if not path.is_file():
                message = f"the policy file {location} (TEMPLATE_POLICY) does not exist"
                raise CheckError(message)
            text = path.read_text(encoding="utf-8")
        return location, load_yaml(text, location)
    found = None
    for layer, rendering in renderings.items():
        if (rendering / POLICY_FILE).is_file():
            found = (f"{POLICY_FILE} of {layer}", rendering / POLICY_FILE)
    if found is None:
        return None
    source, path = found
    return source, load_yaml(path.read_text(encoding="utf-8"), source)


def policy_settings(source: str, policy: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The policy's minimum template version and house-owned patterns, checked for typos."""
    settings = policy.get(POLICY_SECTION) or {}
    if not isinstance(settings, dict) or not set(settings) <= POLICY_SETTINGS:
        known = ", ".join(sorted(POLICY_SETTINGS))
        message = f"{source}: `{POLICY_SECTION}` takes only these settings: {known}"
        raise CheckError(message)
    patterns = settings.get("house_owned") or []
    if not isinstance(patterns, list):
        message = f"{source}: `{POLICY_SECTION}.house_owned` must be a list of file patterns"
        raise CheckError(message)
    minimum = settings.get("minimum_version")
    if minimum is not None:
        try:
            version.Version(str(minimum))
        except version.InvalidVersion as error:
            message = f"{source}: `{POLICY_SECTION}.minimum_version` {minimum!r} is not a version"
            raise CheckError(message) from error
    return (None if minimum is None else str(minimum)), [str(pattern) for pattern in patterns]


def comparable(value: Any) -> Any:
    """Answers as text, so 3.12 and "3.12" agree; a multiple choice's order does not matter."""
    if isinstance(value, list):
        return sorted(str(item) for item in value)
    return str(value)


def answer_findings(policy: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    findings = []
    for name, pinned in policy.items():
        if name == POLICY_SECTION:
            continue
        if name not in recorded:
            findings.append(f"answer `{name}`: not recorded, the policy pins {pinned!r}")
        elif comparable(recorded[name]) != comparable(pinned):
            findings.append(
                f"answer `{name}`: the project records {recorded[name]!r}, "
                f"the policy pins {pinned!r}"
            )
    return findings


def release_of(commit: str) -> Any:
    """The release a recorded `_commit` is at or after ("v1.2.0", "v1.2.0-3-gabc1234"), or None."""
    try:
        return version.Version(re.sub(r"-\d+-g[0-9a-f]+$", "", commit))
    except version.InvalidVersion:
        return None


def version_findings(minimum: str | None, commit: str) -> list[str]:
    if minimum is None:
        return []
    release = release_of(commit)
    if release is None:
        return [f"template version {commit!r} is not a release; the policy requires {minimum}"]
    if release < version.Version(minimum):
        return [f"template version {commit} is older than the policy's minimum, {minimum}"]
    return []


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
    layers = answers_files(project)
    for layer in layers:
        update = [*copier_command(), "check-update", f"--answers-file={layer}"]
        print(f"{layer}: {run(update, cwd=project, what='check for updates').strip()}")

    with tempfile.TemporaryDirectory(prefix="template-check-") as temporary:
        renderings = {layer: Path(temporary) / str(number) for number, layer in enumerate(layers)}
        owner: dict[str, Path] = {}  # each file as the last layer rendering it renders it
        house_layer_files: set[str] = set()
        for layer, rendering in renderings.items():
            rendering.mkdir()
            render_recorded_version(project, layer, rendering)
            layer_files = rendered_files(rendering, layers)
            owner.update(dict.fromkeys(layer_files, rendering))
            if layer != ANSWERS_FILE:
                house_layer_files.update(layer_files)
        recorded = load_yaml((project / ANSWERS_FILE).read_text(encoding="utf-8"), ANSWERS_FILE)
        policy = read_policy(renderings)
        patterns = house_owned_patterns(
            renderings[ANSWERS_FILE] / "pyproject.toml", project / "pyproject.toml"
        )
        findings = []
        if policy is not None:
            source, rules = policy
            minimum, policy_patterns = policy_settings(source, rules)
            patterns += policy_patterns
            print(f"Policy: {source}")
            findings += answer_findings(rules, recorded)
            findings += version_findings(minimum, str(recorded.get("_commit", "")))

        paths = sorted(owner)
        ignored = ignored_by_git(project, paths)
        drift = {
            path: change
            for path in paths
            if path not in ignored and (change := difference(project, owner[path], path))
        }
        house = {
            path: change
            for path, change in drift.items()
            if path in house_layer_files or is_house_owned(path, patterns)
        }
        diffs = [unified_diff(project, owner[path], path) for path in house]

    owned = {path: change for path, change in drift.items() if path not in house}
    print(f"Compared {len(paths)} files with the recorded template versions.")
    for title, files in (("Project-owned", owned), ("House-owned", house)):
        print(f"{title} files that differ from the template: {len(files)}")
        for path, change in files.items():
            print(f"  {path} ({change})")
    if diffs:
        print("\n".join(diffs))
    if house:
        findings.append(f"house-owned files differ from the template: {', '.join(house)}.")
    if not findings:
        return 0
    print("error: the project does not follow the house policy:", file=sys.stderr)
    for finding in findings:
        print(f"  {finding}", file=sys.stderr)
    print(
        "Undo the change, or propose it to the platform team: its policy and templates decide.",
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

"""Update tier: a project generated from an older template version survives `copier update`.

The tests build a throwaway git copy of this template with two tagged versions: the working
tree as it is (OLD_TAG), and a next version with the kind of changes a release brings (a new
setting, a raised dependency bound, edits to files users also edit). A project is generated
from the old tag and committed, a developer's edits are committed on top, and `copier update`
takes it to the new tag: the edits must survive, the template's changes must arrive, nothing
may be left half-merged, and the project's own checks must pass afterwards. Conflicts must be
reported, never lost; `_migrations` must run, once; `make template-check` must tell a drifted
house-owned file from the project's own changes; `make update` (scripts/update.py) must exit 1
naming each conflicted file, and 0 leaving nothing but the update's changes.

The flagships are also updated from every release CHANGELOG.md records
(tests/harness/releases.py) to the working tree, in a clone of this repository whose tags are
restored from those records.

The throwaway repository numbers its versions like the first release and the one after every
`_migrations` entry, so an update between them runs every migration, as updating a project
from the first release would. Each test renders projects with its own slug (`tplupd-...`),
which names their databases, and drops those databases at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from harness.files import iter_project_files, parse_env_file, read_text_file
from harness.matrix import choice_values
from harness.processes import clean_env, run, tool
from harness.project_checks import GIT_IDENTITY, ProjectChecks, template_check
from harness.releases import CHANGELOG, recorded_releases, restore_tags
from harness.rendering import VARIANTS
from harness.template import TEMPLATE_ROOT, load_copier_config
from packaging.version import Version

ANSWERS_FILE = load_copier_config().get("_answers_file", ".copier-answers.yml")
OLD_TAG = "v0.1.0"
MIGRATIONS = load_copier_config().get("_migrations", [])
NEW_TAG = f"v{max([Version('0.2.0'), *(Version(str(m['version'])) for m in MIGRATIONS)])}"
CONFLICT_MARKERS = ("<<<<<<< before updating", ">>>>>>> after updating")

HEALTH_CHECK_ROW = (
    '                "Per-dependency timeout of GET /health/ready.",\n'
    '                constraints="gt=0",\n'
    "            ),\n"
)
# What the next template version changes: (file under template/, text, replacement). Each text
# must occur exactly once, so a template change that moves it fails here, not silently.
TEMPLATE_CHANGES = [
    (  # a new setting: one row of the settings catalogue, outside template/
        "../extensions/settings.py",
        HEALTH_CHECK_ROW,
        HEALTH_CHECK_ROW
        + "            Setting(\n"
        + '                "REQUEST_TIMEOUT_SECONDS",\n'
        + '                "float",\n'
        + "                30.0,\n"
        + '                "Upper bound for handling one request.",\n'
        + '                constraints="gt=0",\n'
        + "            ),\n",
    ),
    (  # a raised bound: one row of the dependency catalogue, outside template/
        "../extensions/dependencies.py",
        'Dependency("structlog>=24.4")',
        'Dependency("structlog>=25.1")',
    ),
    (  # files the developer edits too, elsewhere
        "README.md.jinja",
        "with JWT authentication (access tokens and rotating refresh tokens).",
        "with JWT authentication (short-lived access tokens and rotating refresh tokens).",
    ),
    (
        "app/api/router.py.jinja",
        '"""Every domain\'s router, mounted under /api/v1."""\n',
        '"""Version 1 of the HTTP API: every domain\'s router, under /api/v1."""\n',
    ),
]
# What arrives in the project from TEMPLATE_CHANGES: (file, text).
TEMPLATE_CHANGES_ARRIVED = [
    ("app/core/config.py", "request_timeout_seconds: float = Field(default=30.0, gt=0)"),
    (".env.example", "REQUEST_TIMEOUT_SECONDS=30"),
    ("pyproject.toml", '"structlog>=25.1",'),
    ("README.md", "(short-lived access tokens and rotating refresh tokens)"),
    ("app/api/router.py", '"""Version 1 of the HTTP API'),
]

PING_ENDPOINT = """from fastapi import APIRouter

router = APIRouter(prefix="/ping", tags=["ping"])


@router.get("")
async def ping() -> dict[str, str]:
    return {"ping": "pong"}
"""
PING_TEST = """from httpx import AsyncClient


async def test_ping(client: AsyncClient) -> None:
    response = await client.get("/api/v1/ping")
    assert response.json() == {"ping": "pong"}
"""
README_EDIT = (
    "`.env.example` documents every setting.",
    "`.env.example` documents every setting. Staging credentials: ask #platform-help.",
)
# What the developer's edits leave in the project: (file, text).
USER_EDITS_KEPT = [
    ("app/ping/router.py", 'return {"ping": "pong"}'),
    ("tests/test_ping.py", "async def test_ping"),
    ("app/api/router.py", "api_router.include_router(ping_router)"),
    ("app/core/config.py", "refresh_token_expire_days: int = Field(default=30, gt=0)"),
    ("pyproject.toml", '"orjson>=3.10",'),
    ("README.md", README_EDIT[1]),
]


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    path.write_text(text.replace(old, new))


def git(*args: str, cwd: Path) -> str:
    return run(["git", *args], cwd=cwd, env=git_env(), step=f"git {args[0]}").stdout


def git_env() -> dict[str, str]:
    return clean_env(**GIT_IDENTITY)


def copier(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run copier from the template's environment, as a user would on the command line."""
    return run([tool("copier"), *args], cwd=cwd, env=git_env(), step=f"copier {args[0]}")


# ---------------------------------------------------------------- the throwaway template


def copy_working_tree(destination: Path) -> None:
    """The template's files as git sees them (tracked and new, not ignored), edits included."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE_ROOT,
        env=git_env(),
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = TEMPLATE_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def commit_all(
    repo: Path, message: str, tag: str | None = None, *, allow_empty: bool = False
) -> str:
    """Commit everything (and tag the commit); returns the commit."""
    git("add", "-A", cwd=repo)
    git("commit", "-q", *(["--allow-empty"] if allow_empty else []), "-m", message, cwd=repo)
    if tag:
        git("tag", tag, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def add_stray_caches(template_dir: Path) -> list[str]:
    """Files that tools leave inside template/ on a developer's machine; _exclude drops them."""
    strays = [
        "app/__pycache__/main.cpython-312.pyc",
        ".mypy_cache/3.12/app.data.json",
        ".ruff_cache/CACHEDIR.TAG",
        "app/core/~config.py.jinja",
    ]
    for stray in strays:
        path = template_dir / stray
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("stray\n")
    return strays


@dataclass(frozen=True)
class Versions:
    """A throwaway template repository with OLD_TAG and NEW_TAG."""

    repo: Path
    strays: list[str]


@pytest.fixture(scope="session")
def versions(tmp_path_factory: pytest.TempPathFactory) -> Versions:
    repo = tmp_path_factory.mktemp("template-repo")
    copy_working_tree(repo)
    strays = add_stray_caches(repo / "template")
    git("init", "-q", cwd=repo)
    git("add", "--force", "template", cwd=repo)  # the strays, as a careless commit would
    commit_all(repo, "This template, as it is", OLD_TAG)
    for name, old, new in TEMPLATE_CHANGES:
        replace_once(repo / "template" / name, old, new)
    commit_all(repo, "The next release", NEW_TAG)
    return Versions(repo=repo, strays=strays)


# ---------------------------------------------------------------- a user's project


def generate(
    source: Path | str, ref: str, project: Path, answers: dict[str, Any], *options: str
) -> str:
    """`copier copy` as the docs tell users, then `git init` and a first commit (returned)."""
    data_file = project.parent / f"{project.name}-answers.yml"
    data_file.write_text(yaml.safe_dump(answers))
    copier(
        "copy",
        "--trust",
        "--defaults",
        f"--vcs-ref={ref}",
        f"--data-file={data_file}",
        *options,
        source,
        project,
        cwd=project.parent,
    )
    git("init", "-q", cwd=project)
    return commit_all(project, "Generate from the template")


def add_import(text: str, statement: str) -> str:
    """Add `statement` (a `from app... import ...` line) to the module's sorted imports."""
    lines = text.splitlines(keepends=True)
    first_party = [n for n, line in enumerate(lines) if line.startswith("from app.")]
    if not first_party:  # only third-party imports: a section of its own after them
        last = max(n for n, line in enumerate(lines) if line.startswith(("from ", "import ")))
        lines[last + 1 : last + 1] = ["\n", statement + "\n"]
        return "".join(lines)
    after = [n for n in first_party if lines[n] > statement]
    lines.insert(after[0] if after else first_party[-1] + 1, statement + "\n")
    return "".join(lines)


def edit_like_a_developer(project: Path) -> str:
    """A new endpoint with its test and its authorization entry, a changed setting default, an
    extra dependency and an edited README paragraph, committed; returns the commit."""
    (project / "app/ping").mkdir()
    (project / "app/ping/__init__.py").write_text('"""A domain of the developer\'s own."""\n')
    (project / "app/ping/router.py").write_text(PING_ENDPOINT)
    (project / "tests/test_ping.py").write_text(PING_TEST)
    router = project / "app/api/router.py"
    text = add_import(router.read_text(), "from app.ping.router import router as ping_router")
    router.write_text(text + "api_router.include_router(ping_router)\n")
    authorization = project / "tests/test_authorization.py"
    if authorization.exists():  # every auth but none: it fails for an unclassified endpoint
        api_keys_guard_v1 = recorded_answers(project)["auth"] == "api_key"
        access = "Access.AUTHENTICATED" if api_keys_guard_v1 else "Access.PUBLIC"
        health = '    Operation("GET", "/health/ready", Access.PUBLIC),\n'
        ping = f'    Operation("GET", "/api/v1/ping", {access}),\n'
        replace_once(authorization, health, health + ping)
    replace_once(
        project / "app/core/config.py",
        "refresh_token_expire_days: int = Field(default=14, gt=0)",
        "refresh_token_expire_days: int = Field(default=30, gt=0)",
    )
    # Between lines no template change touches: a line added next to one the template changes
    # conflicts (the broker's celery line goes after alembic, fastapi's bound has moved).
    replace_once(
        project / "pyproject.toml",
        '"pyjwt>=2.10",\n',
        '"pyjwt>=2.10",\n    "orjson>=3.10",\n',
    )
    replace_once(project / "README.md", *README_EDIT)
    return commit_all(project, "Add a ping endpoint; longer refresh tokens")


def update(project: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = copier("update", "--trust", "--defaults", *options, cwd=project)
    return result, time.monotonic() - started


def conflict_leftovers(project: Path) -> list[str]:
    found = []
    for path in iter_project_files(project):
        relative = path.relative_to(project)
        if path.suffix in {".rej", ".orig"}:
            found.append(f"{relative}: conflict leftover file")
        elif (text := read_text_file(path)) and any(marker in text for marker in CONFLICT_MARKERS):
            found.append(f"{relative}: conflict markers")
    return found


def recorded_answers(project: Path) -> dict[str, Any]:
    answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    assert isinstance(answers, dict)
    return answers


def unmerged(project: Path) -> list[str]:
    return git("diff", "--name-only", "--diff-filter=U", cwd=project).split()


def assert_cleanly_updated(project: Path, commits: list[str], tag: str) -> None:
    """No conflict left, nothing unmerged, history intact, the new version recorded."""
    assert not conflict_leftovers(project), conflict_leftovers(project)
    assert not unmerged(project), f"unmerged paths after the update: {unmerged(project)}"
    for commit in commits:
        ancestor = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=project, check=False
        )
        assert ancestor.returncode == 0, f"commit {commit} is no longer in the history"
    assert recorded_answers(project)["_commit"] == tag


def assert_contains(project: Path, expected: list[tuple[str, str]], what: str) -> None:
    missing = [
        f"{name}: {text!r}"
        for name, text in expected
        if not (project / name).is_file() or text not in (project / name).read_text()
    ]
    assert not missing, f"{what} missing after the update:\n  " + "\n  ".join(missing)


def check_project(
    label: str,
    project: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
    *,
    with_tests: bool,
) -> None:
    """The project's own checks after an update: install, ruff, mypy and, `with_tests`, its
    migrations and test suite against a database of its own (named after its slug)."""
    mypy_cache_seed = request.getfixturevalue("mypy_cache_seed")
    checks = ProjectChecks(label, project, recorded_answers(project), poetry_bin, mypy_cache_seed)
    checks.install()
    checks.lint_and_typecheck()
    if with_tests:
        database = checks.database(project.name)
        checks.provision(database, request)
        checks.migrate_and_test(database)
    print(f"{label}: {checks.step.summary()}")


# ---------------------------------------------------------------- tests


def first_variant(**answers: Any) -> str:
    """The first variant of the matrix with these answers (its names follow the matrix)."""
    return next(
        name
        for name, given in VARIANTS.items()
        if all(given.get(question) == value for question, value in answers.items())
    )


# Variants updated with user edits, and the checks each runs afterwards: the default variant
# runs its whole suite; the others install, lint and type-check (the variant tier runs the rest).
# The edits touch the JWT settings and README, so every one of them has auth=jwt.
UPDATED_VARIANTS = {
    "default": ("--skip-answered",),
    first_variant(auth="jwt", broker="rabbitmq"): (),
    first_variant(auth="jwt", package_manager="poetry"): (),
}


@pytest.mark.parametrize("variant", sorted(UPDATED_VARIANTS))
def test_update_keeps_user_edits(
    variant: str,
    versions: Versions,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    slug = f"tplupd-{variant}"
    project = tmp_path / slug
    generated = generate(
        versions.repo, OLD_TAG, project, {**VARIANTS[variant], "project_slug": slug}
    )
    edited = edit_like_a_developer(project)

    _, seconds = update(project, f"--vcs-ref={NEW_TAG}", *UPDATED_VARIANTS[variant])
    print(f"{variant}: copier update took {seconds:.1f}s")

    assert_cleanly_updated(project, [generated, edited], NEW_TAG)
    assert_contains(project, USER_EDITS_KEPT, "the developer's edits")
    assert_contains(project, TEMPLATE_CHANGES_ARRIVED, "the template's changes")
    commit_all(project, f"Update the template to {NEW_TAG}")

    check_project(
        f"{variant} after update", project, request, poetry_bin, with_tests=variant == "default"
    )


def test_update_reports_a_conflict_inline(versions: Versions, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-conflict"
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})
    mine = "with JWT authentication (access tokens for 15 minutes, refresh tokens for 14 days)."
    replace_once(
        project / "README.md",
        "with JWT authentication (access tokens and rotating refresh tokens).",
        mine,
    )
    commit_all(project, "Say how long tokens live")

    update(project, f"--vcs-ref={NEW_TAG}")

    readme = (project / "README.md").read_text()
    for marker in (*CONFLICT_MARKERS, "======="):
        assert marker in readme, f"README.md has no {marker!r} line:\n{readme}"
    assert mine in readme, "the developer's line was lost in the conflict"
    assert "(short-lived access tokens and rotating refresh tokens)" in readme
    assert unmerged(project) == ["README.md"], "git status must list README.md as unmerged"
    status = git("status", "--porcelain", cwd=project)
    assert "UU README.md" in status.splitlines(), status
    assert not list(project.rglob("*.rej")), "inline conflicts must not leave .rej files"
    assert_contains(project, TEMPLATE_CHANGES_ARRIVED[:3], "the template's other changes")


def test_update_changes_an_answer(
    versions: Versions,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    slug = "tplupd-add-broker"
    project = tmp_path / slug
    generate(versions.repo, OLD_TAG, project, {"project_slug": slug, "broker": "none"})
    assert not (project / "app/tasks").exists()
    edited = edit_like_a_developer(project)
    # A database the project migrated before it had a broker, which brings a column of its own.
    mypy_cache_seed = request.getfixturevalue("mypy_cache_seed")
    before = ProjectChecks(slug, project, recorded_answers(project), poetry_bin, mypy_cache_seed)
    before.install()
    database = before.database(slug)
    before.provision(database, request)
    alembic = (*before.run_in_venv, "alembic")
    before.step("alembic upgrade head, without a broker", *alembic, "upgrade", "head")
    commit_all(project, f"Lock the dependencies ({before.lock_file})")

    update(project, f"--vcs-ref={NEW_TAG}", "--data=broker=redis")
    before.step("alembic upgrade head, with the broker", *alembic, "upgrade", "head")
    before.step("alembic check", *alembic, "check")

    assert_cleanly_updated(project, [edited], NEW_TAG)
    assert recorded_answers(project)["broker"] == "redis"
    assert_contains(
        project,
        [
            ("app/core/celery_app.py", "Celery("),
            ("app/accounts/tasks.py", "def "),
            ("pyproject.toml", '"celery[redis]>=5.7",'),
            ("compose.yaml", "worker:"),
            *USER_EDITS_KEPT,
        ],
        "the broker's files and the developer's edits",
    )
    commit_all(project, "Add a Celery broker")
    # The task tests arrived with the broker.
    check_project("broker none -> redis", project, request, poetry_bin, with_tests=True)


def migration_commands() -> Iterator[list[str]]:
    """The `_migrations` commands of copier.yml, rendered as copier renders them."""
    conf = {"src_path": TEMPLATE_ROOT, "answers_file": ANSWERS_FILE}
    context = {"_copier_python": sys.executable, "_copier_conf": conf}
    for migration in MIGRATIONS:
        yield [jinja2.Template(part).render(context) for part in migration["command"]]


def test_migration_renames_the_setting_in_env_once(versions: Versions, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-migration"
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})
    env_file = project / ".env"
    # .env as template 0.1.0 wrote it; copier update never touches it (_skip_if_exists).
    replace_once(env_file, "CORS_ALLOW_ORIGINS=", "CORS_ORIGINS=")
    before = parse_env_file(env_file)

    result, _ = update(project, f"--vcs-ref={NEW_TAG}")

    assert "rename_env_setting.py" in result.stderr, "copier did not run the migration"
    after = parse_env_file(env_file)
    assert "CORS_ORIGINS" not in after
    assert after["CORS_ALLOW_ORIGINS"] == before["CORS_ORIGINS"]
    assert {k: v for k, v in after.items() if k != "CORS_ALLOW_ORIGINS"} == {
        k: v for k, v in before.items() if k != "CORS_ORIGINS"
    }, "the migration changed other settings"
    migrated = env_file.read_bytes()
    for command in migration_commands():
        run(command, cwd=project, env=git_env(), step="migration, a second time")
    assert env_file.read_bytes() == migrated, "running the migration again changed .env"


RELEASES = recorded_releases((TEMPLATE_ROOT / CHANGELOG).read_text(encoding="utf-8"))
RELEASES_VERSIONS = [release.version for release in RELEASES]
# What the next release would be: above every recorded one, and at least the last migration's.
NEXT_RELEASE = "v" + str(
    max(
        [
            Version(NEW_TAG),
            *(Version(f"{v.major}.{v.minor + 1}.0") for v in map(Version, RELEASES_VERSIONS)),
        ]
    )
)
# Updated from every release, with edits every variant allows (edit_any_variant).
RELEASE_UPDATES = ["default", "minimal", "largest", "adversarial"]
OWN_GITIGNORE = "\n# Our own\n/notes/\n"
OWN_MODULE = (
    "app/user_notes.py",
    '"""A module of the project\'s own, which no update may touch."""\n\nNOTE = "ours"\n',
)


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this repository with its recorded release tags restored by tests.harness.releases,
    as in any clone, and the working tree committed and tagged as NEXT_RELEASE."""
    repo = tmp_path_factory.mktemp("released") / "template-repo"
    git("clone", "-q", "--no-checkout", "--no-tags", str(TEMPLATE_ROOT), str(repo), cwd=repo.parent)
    assert not git("tag", cwd=repo).split(), "the clone was made without tags"
    copy_working_tree(repo)  # CHANGELOG.md, with the records, included
    print("\n".join(restore_tags(repo)))
    commit_all(
        repo, "The next release, as this tree would be tagged", NEXT_RELEASE, allow_empty=True
    )
    return repo


def edit_any_variant(project: Path) -> str:
    """Lines added to a file of the template, and a module of the project's own, committed;
    returns the commit. (A README line near the top conflicts from 0.1.0: the README's first
    paragraphs are rewritten since, and a name and description with markup escaped.)"""
    with (project / ".gitignore").open("a") as gitignore:
        gitignore.write(OWN_GITIGNORE)
    name, text = OWN_MODULE
    (project / name).write_text(text)
    return commit_all(project, "Ignore our notes; a module of our own")


def answers_offered(repo: Path, ref: str, answers: dict[str, Any]) -> dict[str, Any]:
    """The answers the template at `ref` offers: a question or value added since is left out."""
    config = yaml.safe_load(git("show", f"{ref}:copier.yml", cwd=repo))
    offered = {}
    for question, value in answers.items():
        spec = config.get(question)
        if not isinstance(spec, dict):
            continue
        if "choices" in spec:
            choices = choice_values(spec)
            values = value if isinstance(value, list) else [value]
            if not all(item in choices for item in values):
                continue
        offered[question] = value
    return offered


@pytest.mark.parametrize("variant", RELEASE_UPDATES)
@pytest.mark.parametrize("release", [release.tag for release in RELEASES])
def test_update_from_each_release(
    release: str,
    variant: str,
    released: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    """From every release CHANGELOG.md records to the release this tree would become, for the
    flagships, with a developer's edits; a missing tag is restored, never a reason to skip.

    A flagship answer the release did not offer yet (orm=none before 0.2.0) is given to the
    update instead, as a team would when it adopts the new value.
    """
    slug = f"tplupd-{release.replace('.', '')}-{variant}"
    answers = {**VARIANTS[variant], "project_slug": slug}
    offered = answers_offered(released, release, answers)
    project = tmp_path / slug
    started = time.monotonic()
    generated = generate(released, release, project, offered)
    copied = time.monotonic() - started
    edited = edit_any_variant(project)
    later = {question: answers[question] for question in answers.keys() - offered.keys()}
    data = [f"--data={question}={value}" for question, value in sorted(later.items())]

    result, seconds = update(project, f"--vcs-ref={NEXT_RELEASE}", *data)
    print(f"{release} -> {NEXT_RELEASE} ({variant}): copy {copied:.1f}s, update {seconds:.1f}s")
    # No moved file was edited: the old version's rendering is found unchanged, nothing carried.
    assert "Edited files this update moves" not in result.stdout, result.stdout

    assert_cleanly_updated(project, [generated, edited], NEXT_RELEASE)
    assert_contains(project, [(".gitignore", OWN_GITIGNORE), OWN_MODULE], "the developer's edits")
    assert {**recorded_answers(project), **answers} == recorded_answers(project)
    assert "CORS_ORIGINS" not in parse_env_file(project / ".env")
    commit_all(project, f"Update the template to {NEXT_RELEASE}")
    check_project(
        f"{release} -> {NEXT_RELEASE} ({variant})",
        project,
        request,
        poetry_bin,
        with_tests=variant == "default",
    )


# Files 0.2.0 moved into domain packages, as a team edits them in a project from 0.1.0: lines
# appended (no template change is near them), and a file that has no new home.
MOVED_EDITS = [
    ("app/services/items.py", "\n\ndef team_helper() -> int:\n    return 42\n"),
    ("app/api/deps.py", "\n\nTEAM_PAGE_LIMIT = 5\n"),
    ("app/services/__init__.py", '"""Our services, with notes."""\n'),
]
# Where each edit must be after the update.
MOVED_EDITS_KEPT = [
    ("app/items/service.py", "def team_helper() -> int:\n    return 42\n"),
    ("app/core/dependencies.py", "TEAM_PAGE_LIMIT = 5\n"),
    ("app/services/__init__.py", "Our services, with notes."),
]
# A line of app/services/items.py that 0.2.0 rewrote in app/items/service.py.
MOVED_CONFLICT = (
    "Items belong to their owner; superusers may see and change every item.",
    "Items belong to their owner; superusers and auditors may see every item.",
)


def generate_from_0_1_0(released: Path, project: Path) -> None:
    generate(released, "v0.1.0", project, {"project_slug": project.name})
    for name, _ in MOVED_EDITS:
        assert (project / name).is_file(), f"0.1.0 rendered no {name}: fix MOVED_EDITS"


def test_update_from_0_1_0_carries_edits_of_moved_files(released: Path, tmp_path: Path) -> None:
    """Copier deletes each file the old version rendered and the new one does not; the 0.2.0
    migration (extensions/migrations/carry_moved_edits.py) merges the edits into the new homes."""
    project = tmp_path / "tplupd-moves"
    generate_from_0_1_0(released, project)
    for name, text in MOVED_EDITS:
        if name.endswith("__init__.py"):
            (project / name).write_text(text)
        else:
            with (project / name).open("a") as module:
                module.write(text)
    edited = commit_all(project, "Our helpers in moved modules")

    result, seconds = update(project, f"--vcs-ref={NEXT_RELEASE}")
    print(f"v0.1.0 -> {NEXT_RELEASE} with edits in moved files: update {seconds:.1f}s")

    assert_cleanly_updated(project, [edited], NEXT_RELEASE)
    assert_contains(project, MOVED_EDITS_KEPT, "the edits of moved files")
    assert "app/services/items.py: your edits carried to app/items/service.py" in result.stdout
    assert "app/services/__init__.py: has no new home" in result.stdout
    assert not (project / "app/services/items.py").exists(), "the moved file is still there"
    assert not (project / ".git/copier-moves").exists(), "the migration left its stash"
    # Idempotent: both steps again change nothing.
    after = {name: (project / name).read_bytes() for name, _ in MOVED_EDITS_KEPT}
    for command in migration_commands():
        if "carry_moved_edits.py" in command[1]:
            run(command, cwd=project, env=git_env(), step="migration, a second time")
    assert {name: (project / name).read_bytes() for name, _ in MOVED_EDITS_KEPT} == after


def test_update_from_0_1_0_marks_a_conflict_in_a_moved_file(released: Path, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-moves-conflict"
    generate_from_0_1_0(released, project)
    replace_once(project / "app/services/items.py", *MOVED_CONFLICT)
    commit_all(project, "Auditors see every item")

    update(project, f"--vcs-ref={NEXT_RELEASE}")

    service = (project / "app/items/service.py").read_text()
    for marker in (*CONFLICT_MARKERS, "======="):
        assert marker in service, f"app/items/service.py has no {marker!r} line:\n{service}"
    assert MOVED_CONFLICT[1] in service, "the developer's line was lost in the conflict"
    assert "Items belong to the caller who created them" in service, "the template's line"
    check = update_script(project, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert listed_conflicts(check) == ["app/items/service.py (unmerged, conflict markers)"], (
        check.stderr
    )


def test_answers_file_records_an_absolute_source(versions: Versions, tmp_path: Path) -> None:
    """`copier copy . ../svc` from the template directory, as the README shows it."""
    project = tmp_path / "tplupd-relative"
    run(
        [
            tool("copier"),
            "copy",
            "--trust",
            "--defaults",
            f"--vcs-ref={OLD_TAG}",
            f"--data=project_slug={project.name}",
            ".",
            os.path.relpath(project, versions.repo),
        ],
        cwd=versions.repo,
        env=git_env(),
        step="copier copy .",
    )
    answers = recorded_answers(project)
    assert answers["_src_path"] == str(versions.repo.resolve())
    assert answers["_commit"] == OLD_TAG
    for stray in versions.strays:
        assert not (project / stray).exists(), f"{stray} reached the project (_exclude)"
    git("init", "-q", cwd=project)
    commit_all(project, "Generate from the template")
    update(project, f"--vcs-ref={NEW_TAG}")
    assert recorded_answers(project)["_commit"] == NEW_TAG


def test_template_check_fails_on_house_owned_drift(versions: Versions, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-drift"
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})
    # Copier from PyPI through uvx, as the project's Makefile and CI run it.
    untouched = template_check(project)
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr
    assert "House-owned files that differ from the template: 0" in untouched.stdout

    installed = {"TEMPLATE_CHECK_COPIER": tool("copier")}
    with (project / "README.md").open("a") as readme:
        readme.write("\nOur own notes.\n")
    project_owned = template_check(project, **installed)
    assert project_owned.returncode == 0, project_owned.stdout + project_owned.stderr
    assert "  README.md (changed)" in project_owned.stdout

    with (project / "Dockerfile").open("a") as dockerfile:
        dockerfile.write("USER root\n")
    # A project cannot opt out: the house-owned list is read from the template's rendering.
    replace_once(project / "pyproject.toml", '"Dockerfile"]', "]")
    drifted = template_check(project, **installed)
    assert drifted.returncode == 1, drifted.stdout + drifted.stderr
    assert "  Dockerfile (changed)" in drifted.stdout
    assert "+USER root" in drifted.stdout
    assert "house-owned files differ from the template: Dockerfile." in drifted.stderr


# ---------------------------------------------------------------- make update (scripts/update.py)

README_CONFLICT = (
    "with JWT authentication (access tokens and rotating refresh tokens).",
    "with JWT authentication (access tokens for 15 minutes, refresh tokens for 14 days).",
)


def update_script(project: Path, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/update.py with the template's own Copier (the Makefile's uvx is tested apart)."""
    return run(
        [tool("python"), "scripts/update.py", *options],
        cwd=project,
        env=clean_env(**GIT_IDENTITY, TEMPLATE_UPDATE_COPIER=tool("copier"), **env),
        step="scripts/update.py",
        check=False,
    )


def generate_with_a_conflicting_edit(versions: Versions, project: Path) -> None:
    """A project whose README line the next release rewords too, committed."""
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})
    replace_once(project / "README.md", *README_CONFLICT)
    commit_all(project, "Say how long tokens live")


def listed_conflicts(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The files (with their kinds) the script listed as conflicted."""
    return re.findall(r"^  (\S+ \(.+\))$", result.stderr, re.M)


def untracked_and_ignored(project: Path) -> list[str]:
    return git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=project).split(
        "\n"
    )


def test_make_update_without_conflicts_exits_0_and_leaves_only_its_changes(
    versions: Versions, tmp_path: Path
) -> None:
    """`make update` as a developer runs it: Copier from PyPI through uvx, at the template's
    supported version with its extension package; nothing but the update's changes left."""
    project = tmp_path / "tplupd-make-update"
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})
    edit_like_a_developer(project)
    ignored_before = {line for line in untracked_and_ignored(project) if line.startswith("!!")}

    result = run(
        ["make", "update", f"args=--vcs-ref={NEW_TAG}"],
        cwd=project,
        env=clean_env(**GIT_IDENTITY),
        step="make update",
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflicts" in result.stdout
    assert recorded_answers(project)["_commit"] == NEW_TAG
    assert_contains(project, USER_EDITS_KEPT + TEMPLATE_CHANGES_ARRIVED, "edits and changes")
    changed = {line[3:] for line in git("status", "--porcelain", cwd=project).splitlines()}
    expected = {ANSWERS_FILE, *(name for name, _ in TEMPLATE_CHANGES_ARRIVED)}
    assert changed == expected, f"git status lists more than the update's changes: {changed}"
    strays = {
        line
        for line in untracked_and_ignored(project)
        if line.startswith("!!") and line not in ignored_before
    }
    # Python's bytecode cache of the script is all it may leave, and git ignores it.
    assert all(line.startswith("!! scripts/__pycache__/") for line in strays), strays
    assert not (project / ".venv").exists(), "running Copier created a .venv in the project"
    assert not (project / "uv.lock").exists(), "running Copier created uv.lock in the project"


def test_update_script_fails_on_an_inline_conflict(versions: Versions, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-script-inline"
    generate_with_a_conflicting_edit(versions, project)

    result = update_script(project, f"--vcs-ref={NEW_TAG}")

    assert result.returncode == 1, result.stdout + result.stderr
    assert listed_conflicts(result) == ["README.md (unmerged, conflict markers)"], result.stderr
    assert "the update left conflicts in 1 files" in result.stderr
    # Run again after a bare `copier update`, it finds the same.
    check = update_script(project, "--check")
    assert (check.returncode, listed_conflicts(check)) == (1, listed_conflicts(result))


def test_update_script_fails_on_rejected_changes(versions: Versions, tmp_path: Path) -> None:
    project = tmp_path / "tplupd-script-rej"
    generate_with_a_conflicting_edit(versions, project)

    result = update_script(project, f"--vcs-ref={NEW_TAG}", "--conflict=rej")

    assert result.returncode == 1, result.stdout + result.stderr
    assert listed_conflicts(result) == ["README.md.rej (rejected changes)"], result.stderr
    # The template's line is in README.md; the developer's, which did not apply, in the .rej.
    assert README_CONFLICT[1] in (project / "README.md.rej").read_text()


def test_update_script_fails_on_committed_conflict_markers(
    versions: Versions, tmp_path: Path
) -> None:
    """The trap the script exists for: a bare `copier update` exits 0, a bot commits the
    markers; the next update has nothing to merge there, and still fails on them."""
    project = tmp_path / "tplupd-script-markers"
    generate_with_a_conflicting_edit(versions, project)
    bare, _ = update(project, f"--vcs-ref={NEW_TAG}")
    assert bare.returncode == 0, "copier update now fails on conflicts: simplify this test"
    commit_all(project, "Update the template (as a bot would, markers and all)")

    result = update_script(project, f"--vcs-ref={NEW_TAG}")

    assert result.returncode == 1, result.stdout + result.stderr
    assert listed_conflicts(result) == ["README.md (conflict markers)"], result.stderr


def test_update_script_refuses_what_it_cannot_do_in_a_sentence(
    versions: Versions, tmp_path: Path
) -> None:
    project = tmp_path / "tplupd-script-refused"
    generate(versions.repo, OLD_TAG, project, {"project_slug": project.name})

    unknown = update_script(project, "--vcs-ref=v9.9.9")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert "Traceback" not in unknown.stderr, unknown.stderr
    assert unknown.stderr.strip().splitlines()[-1] == (
        f"error: the template at {versions.repo} has no tag, branch or commit 'v9.9.9'; "
        f"its release tags are {OLD_TAG}, {NEW_TAG}."
    )

    (project / "README.md").write_text("mine\n")
    dirty = update_script(project, f"--vcs-ref={NEW_TAG}")
    assert dirty.returncode == 2, dirty.stdout + dirty.stderr
    assert "commit or stash your changes first" in dirty.stderr
    assert " M README.md" in dirty.stderr
    assert recorded_answers(project)["_commit"] == OLD_TAG

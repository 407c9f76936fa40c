"""Compose tier: each variant's compose.yaml and Dockerfile make a stack that really runs.

Static checks (render-tier speed, no services) cover what the compose-spec schema cannot (the
schema itself is checked in test_render.py): dependencies exist and wait for the right thing,
the services match the answers, long-running services have health checks, host ports are
unique, the settings the app requires are provided (and no secret gets a value written in the
compose file), URLs reach the server containers with the accounts and databases those are
created with (the one thing the native run cannot see), and the Dockerfile lints clean, runs as
a non-root user and starts the command the api service runs.

The native stack test (marker `variant`) renders the variant with its own slug, installs its
runtime dependencies once, as the image does, runs the stack's own processes on this machine
(tests/stack.py) and smoke-tests them over HTTP: readiness, then what the answers include
(signup and login, the items domain, a task the API queues and the worker completes, beat).
With auth=oidc the project's own test identity provider (tests/identity_provider.py, run with
the project's runtime dependencies) serves keys on 127.0.0.1, the stack's .env points
OIDC_ISSUER at it, and the smoke test calls the API with a token it signed.
Where a Docker engine answers, the same smoke test runs against `docker compose up --build
--wait`; where none does (as on the template's own machines, CI included) that test skips.

"Provided" for a required setting means: `docker compose up` in a fresh clone either gives the
setting to the process or refuses to start and names it. So it counts when the service's
`environment` sets it to a literal, to `${VAR:-default}`, or to `${VAR:?message}` (compose stops
with the message), or when an env_file that is required (compose's default) sets it. An
optional env_file (`required: false`, the project's `.env`) does not count: `.env` is never
committed, and a missing setting would only surface as a crash of the app at start, or as an
empty value that pydantic accepts.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import secrets
import subprocess
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import stack
from conftest import (
    PYPI_SIMPLE,
    VARIANTS,
    assert_rendered,
    clean_env,
    pypi_serves_poetry,
    python_for,
    require_service,
    run,
    tool,
    variant_params,
)
from matrix import stack_variants

STACK_SLUGS = {name: f"tplstack-{name}" for name in VARIANTS}
HEALTHY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
ONE_SHOT_RESTARTS = {"no", "on-failure"}
TASK_TIMEOUT_SECONDS = 60
HTTP_TIMEOUT_SECONDS = 15
API_PORT = 8000


# ---------------------------------------------------------------- what the answers call for


def expected_machine_kinds(answers: Mapping[str, Any]) -> set[str]:
    """Kinds of server (stack.IMAGE_KINDS values) the variant's app talks to."""
    kinds = set()
    if answers.get("orm", "none") != "none" and answers.get("database", "sqlite") != "sqlite":
        kinds.add(str(answers["database"]))
    if "redis" in (answers.get("broker"), answers.get("cache")):
        kinds.add("redis")
    if answers.get("broker") == "rabbitmq":
        kinds.add("amqp")
    return kinds


def expected_built_services(answers: Mapping[str, Any]) -> set[str]:
    services = {"api"}
    if answers.get("orm", "none") != "none":
        services.add("migrate")
    if answers.get("broker", "none") != "none":
        services |= {"worker", "beat"}
    return services


def broker_kind(answers: Mapping[str, Any]) -> str | None:
    return {"redis": "redis", "rabbitmq": "amqp"}.get(str(answers.get("broker", "none")))


# ---------------------------------------------------------------- the app's settings


@dataclass(frozen=True)
class Setting:
    env: str
    required: bool
    secret: bool


def _has_default(value: ast.expr | None) -> bool:
    if value is None:
        return False
    if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "Field":
        keywords = {keyword.arg: keyword.value for keyword in value.keywords}
        if "default_factory" in keywords:
            return True
        default = value.args[0] if value.args else keywords.get("default")
        return default is not None and not (
            isinstance(default, ast.Constant) and default.value is Ellipsis
        )
    return True


def app_settings(project: Path) -> list[Setting]:
    """The fields of app/core/config.py's Settings, read from its source."""
    tree = ast.parse((project / "app" / "core" / "config.py").read_text())
    (settings,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    prefix = ""
    for node in settings.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "model_config":
            for keyword in getattr(node.value, "keywords", []):
                if keyword.arg == "env_prefix" and isinstance(keyword.value, ast.Constant):
                    prefix = str(keyword.value.value)
    return [
        Setting(
            env=(prefix + node.target.id).upper(),
            required=not _has_default(node.value),
            secret="SecretStr" in ast.unparse(node.annotation),
        )
        for node in settings.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and not ast.unparse(node.annotation).startswith("ClassVar")
    ]


def provided(project: Path, service: Mapping[str, Any], name: str) -> bool:
    """Whether a fresh clone's `docker compose up` gives `name` to the service, or refuses."""
    entries = {key.upper(): value for key, value in stack.environment_entries(service).items()}
    if (value := entries.get(name)) is not None:
        try:
            return stack.interpolate(value, {}) != ""
        except stack.InterpolationError:
            return True  # compose stops and names the variable
    for path, required in stack.env_files(service):
        env_file = project / path
        if required and env_file.is_file():
            keys = {key.upper() for key in stack.parse_env_file(env_file)}
            if name in keys:
                return True
    return False


def shared_value(value: str) -> bool:
    """Whether the compose file itself supplies the value (a literal or a default)."""
    try:
        return stack.interpolate(value, {}) != ""
    except stack.InterpolationError:
        return False


# ---------------------------------------------------------------- static checks


@pytest.fixture
def rendered(
    request: pytest.FixtureRequest, render_variant: Callable[[str], Any]
) -> tuple[Path, dict[str, Any], dict[str, dict[str, Any]]]:
    """(project, answers, raw compose services) of the variant rendered once per session."""
    result = render_variant(request.param)
    project = Path(result.project_dir)
    return project, result.answers, stack.load_compose(project).get("services") or {}


def report(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}:\n" + "\n".join(f"  {p}" for p in problems), pytrace=False)


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_depends_on_targets_exist_and_wait_for_the_right_thing(rendered: Any) -> None:
    _, _, services = rendered
    one_shot = stack.one_shot_services(services)
    problems = []
    for name, service in services.items():
        for dependency, condition in stack.depends_on(service).items():
            if dependency not in services:
                problems.append(f"{name} depends on {dependency!r}, which is not a service")
            elif condition not in HEALTHY_CONDITIONS:
                problems.append(f"{name} waits for {dependency} with unknown {condition!r}")
            elif "build" not in services[dependency] and condition != "service_healthy":
                problems.append(f"{name} starts before {dependency} is healthy ({condition})")
    for name in one_shot:
        restart = str(services.get(name, {}).get("restart", "no"))
        if restart.split(":")[0] not in ONE_SHOT_RESTARTS:
            problems.append(f"{name} runs once, but restart: {restart} would rerun it forever")
    try:
        stack.start_order(services)
    except (ValueError, KeyError) as error:
        problems.append(str(error))
    report(problems, "depends_on")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_stack_has_the_services_the_answers_need(rendered: Any) -> None:
    _, answers, services = rendered
    machine = {
        name: kind
        for name, service in services.items()
        if "build" not in service and (kind := stack.image_kind(str(service.get("image", ""))))
    }
    built = {name for name, service in services.items() if "build" in service}
    problems = []
    kinds, needed = set(machine.values()), expected_machine_kinds(answers)
    if kinds != needed:
        problems.append(f"servers in the stack: {sorted(kinds)}; the answers need {sorted(needed)}")
    if built != (expected := expected_built_services(answers)):
        problems.append(
            f"services built from the project: {sorted(built)}; expected {sorted(expected)}"
        )

    def reaches(name: str) -> set[str]:
        found: set[str] = set()
        pending = list(stack.depends_on(services.get(name, {})))
        while pending:
            if (dependency := pending.pop()) not in found and dependency in services:
                found.add(dependency)
                pending += stack.depends_on(services[dependency])
        return found

    broker = {name for name, kind in machine.items() if kind == broker_kind(answers)}
    database = {name for name, kind in machine.items() if kind in {"postgresql", "mysql"}}
    one_shot = stack.one_shot_services(services)
    # The API's readiness checks every server; tasks use the broker and the database.
    needs = {
        "api": set(machine) | one_shot,
        "worker": broker | database | one_shot,
        "beat": broker,
        "migrate": database,
    }
    for name in sorted(built & set(needs)):
        if missing := needs[name] - reaches(name):
            problems.append(f"{name} starts without waiting for {sorted(missing)}")
    report(problems, "services")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_long_running_services_have_health_checks(rendered: Any) -> None:
    project, _, services = rendered
    one_shot = stack.one_shot_services(services)
    problems = []
    for name, service in services.items():
        if name in one_shot:
            continue
        healthcheck = service.get("healthcheck")
        if healthcheck is None and "build" in service:
            image = stack.parse_dockerfile(stack.dockerfile_of(project, service))
            healthcheck = image.healthcheck
        if stack.healthcheck_command(healthcheck) is None:
            problems.append(f"{name} runs until stopped but has no health check")
    report(problems, "health checks")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_no_host_port_is_published_twice(rendered: Any) -> None:
    _, _, services = rendered
    owners: dict[tuple[int, str], list[str]] = {}
    for name, service in services.items():
        for port in stack.published_ports(service):
            if port.host_port:
                owners.setdefault((port.host_port, port.protocol), []).append(name)
    clashes = [
        f"host port {port}/{protocol} is published by {', '.join(names)}"
        for (port, protocol), names in owners.items()
        if len(names) > 1
    ]
    report(clashes, "ports")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_settings_the_app_requires_are_provided(rendered: Any) -> None:
    project, answers, services = rendered
    settings = app_settings(project)
    if answers.get("auth") == "jwt":
        assert any(s.env == "SECRET_KEY" for s in settings), "Settings has no SECRET_KEY field"
    problems = []
    for name, service in services.items():
        if "build" not in service:
            continue
        entries = {k.upper(): v for k, v in stack.environment_entries(service).items()}
        for setting in settings:
            if setting.required and not provided(project, service, setting.env):
                problems.append(
                    f"{name}: {setting.env} is required by Settings but a fresh clone (no .env) "
                    "does not get it; set it in `environment`, e.g. "
                    f"{setting.env}: ${{{setting.env}:?set {setting.env} in .env}}"
                )
            value = entries.get(setting.env)
            if setting.secret and value is not None and shared_value(value):
                problems.append(
                    f"{name}: secret {setting.env} gets a value written in the compose file "
                    "(a literal or a ${...:-default}), shared by every checkout"
                )
    report(problems, "settings")


def server_accounts(kind: str, env: Mapping[str, str]) -> tuple[dict[str, str | None], str]:
    """(user: password, None where any is accepted; the database or vhost it creates) of a
    server container, from the environment its image documents."""
    if kind == "postgresql":
        user = env.get("POSTGRES_USER", "postgres")
        trust = env.get("POSTGRES_HOST_AUTH_METHOD") == "trust"  # any password will do
        password = None if trust else env.get("POSTGRES_PASSWORD", "")
        return {user: password}, env.get("POSTGRES_DB", user)
    if kind == "mysql":
        accounts: dict[str, str | None] = {}
        for prefix in ("MYSQL_", "MARIADB_"):
            if f"{prefix}ROOT_PASSWORD" in env:
                accounts["root"] = env[f"{prefix}ROOT_PASSWORD"]
            if env.get(f"{prefix}ALLOW_EMPTY_ROOT_PASSWORD") or env.get(
                f"{prefix}ALLOW_EMPTY_PASSWORD"
            ):
                accounts["root"] = ""
            if user := env.get(f"{prefix}USER"):
                accounts[user] = env.get(f"{prefix}PASSWORD", "")
        return accounts, env.get("MARIADB_DATABASE", env.get("MYSQL_DATABASE", ""))
    if kind == "amqp":
        user, password = (
            env.get("RABBITMQ_DEFAULT_USER", "guest"),
            env.get("RABBITMQ_DEFAULT_PASS", "guest"),
        )
        return {user: password}, env.get("RABBITMQ_DEFAULT_VHOST", "/")
    return {}, ""


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_urls_reach_the_stack_with_its_accounts(rendered: Any) -> None:
    """What the native run cannot see, since it points every URL at this machine's servers
    with their own accounts: inside a container, localhost is the container itself, and the
    server containers only know the accounts and database their environment creates."""
    project, _, _ = rendered
    variables = stack.parse_env_file(project / ".env")
    services = stack.load_compose(project, variables)["services"]
    servers = {
        name: kind
        for name, service in services.items()
        if "build" not in service and (kind := stack.image_kind(str(service.get("image", ""))))
    }
    problems = []
    for name, service in services.items():
        if "build" not in service:
            continue
        for key, value in stack.service_environment(project, service, variables).items():
            for match in stack.URL.finditer(value):
                url = urllib.parse.urlsplit(match[0])
                if url.scheme.split("+")[0] not in stack.SCHEME_KINDS:
                    continue  # not a server the app connects to (CORS origins, say)
                where = f"{name}: {key}={match[0]}"
                if url.hostname in {"localhost", "127.0.0.1", "::1"}:
                    problems.append(f"{where} points at the container itself")
                if url.hostname not in servers or servers[url.hostname] == "redis":
                    continue
                server_env = stack.service_environment(project, services[url.hostname], variables)
                accounts, created = server_accounts(servers[url.hostname], server_env)
                user = urllib.parse.unquote(url.username or "")
                if user not in accounts:
                    problems.append(
                        f"{where}: {url.hostname} has no user {user!r} ({sorted(accounts)})"
                    )
                elif accounts[user] not in {None, urllib.parse.unquote(url.password or "")}:
                    problems.append(f"{where}: the password is not the one {url.hostname} sets")
                path = url.path[1:] or "/"
                if path != created:
                    problems.append(f"{where}: {url.hostname} creates {created!r}, not {path!r}")
    report(problems, "URLs in the app services' environment")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_dockerfile_passes_hadolint(rendered: Any) -> None:
    project, _, _ = rendered
    run([tool("hadolint"), "--no-color", "Dockerfile"], cwd=project, timeout=60, step="hadolint")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_image_runs_as_non_root_and_starts_the_api(rendered: Any) -> None:
    project, _, services = rendered
    image = stack.parse_dockerfile(project / "Dockerfile")
    user = (image.user or "root").split(":")[0]
    assert user not in {"root", "0"}, f"the image runs as {image.user or 'root (no USER)'}"
    assert image.cmd, "the Dockerfile has no CMD"
    api = services["api"]
    assert stack.dockerfile_of(project, api).resolve() == (project / "Dockerfile").resolve()
    command = stack.effective_command(api, image)
    assert command == [*image.entrypoint, *image.cmd], (
        f"the api service runs {command}, not the image's start command "
        f"{[*image.entrypoint, *image.cmd]}: one of them is not what production runs"
    )


# ---------------------------------------------------------------- smoke test over HTTP


def http(
    method: str,
    url: str,
    *,
    body: Mapping[str, Any] | None = None,
    form: Mapping[str, str] | None = None,
    token: str | None = None,
    api_key: str | None = None,
) -> tuple[int, Any]:
    """(status, decoded JSON body or text) of one request."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if api_key:
        headers["X-API-Key"] = api_key
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def expect(status: int, payload: Any, wanted: int, what: str) -> Any:
    assert status == wanted, f"{what}: HTTP {status}, expected {wanted}: {payload}"
    return payload


HEARTBEAT_TASK = "app.tasks.heartbeat.heartbeat"


def task_completed(worker_log: str, event: str, marker: str, task: str) -> bool:
    """The worker logged `event` on a line holding `marker`, then `task` succeeded."""
    lines = worker_log.splitlines()
    logged = [i for i, line in enumerate(lines) if event in line and marker in line]
    return bool(logged) and any(task in line and "succeeded" in line for line in lines[logged[0] :])


def wait_for_task(worker_log: Callable[[], str], what: str, *completion: str) -> None:
    deadline = time.monotonic() + TASK_TIMEOUT_SECONDS
    while not task_completed(worker_log(), *completion):
        if time.monotonic() > deadline:
            tail = "\n".join(worker_log().splitlines()[-30:])
            pytest.fail(
                f"the worker did not complete {what} within {TASK_TIMEOUT_SECONDS}s"
                f"\n--- worker log ---\n{tail}",
                pytrace=False,
            )
        time.sleep(0.5)


def smoke_test(
    base_url: str,
    answers: Mapping[str, Any],
    superuser: tuple[str, str] | None,
    worker_log: Callable[[], str],
    service_exec: Callable[[str, list[str]], str],
    oidc_token: str | None = None,
    api_key: str | None = None,
) -> list[str]:
    """Exercise the running stack as the answers shape it; returns what was checked.

    `service_exec` runs a command in a service, as `docker compose exec` does, and returns its
    output. `oidc_token`, with auth=oidc, is a token from the identity provider the stack
    trusts; without one only the refusal of a call without a token is checked. `api_key` is the
    key the stack's settings admit, when the keys are settings.
    """
    checked = []
    status, ready = http("GET", f"{base_url}/health/ready")
    expect(status, ready, 200, "GET /health/ready")
    checked.append(f"ready {ready.get('checks')}")

    auth, broker = answers.get("auth", "none"), answers.get("broker", "none")
    token, marker = None, uuid.uuid4().hex
    if auth == "jwt":
        email, password = f"smoke-{marker}@example.com", f"Smoke-{marker}"
        user = http(
            "POST",
            f"{base_url}/api/v1/auth/signup",
            body={"email": email, "password": password, "full_name": f"Smoke {marker}"},
        )
        expect(*user, 201, "signup")
        status, tokens = http(
            "POST", f"{base_url}/api/v1/auth/login", form={"username": email, "password": password}
        )
        token = expect(status, tokens, 200, "login")["access_token"]
        status, me = http("GET", f"{base_url}/api/v1/users/me", token=token)
        assert expect(status, me, 200, "GET /users/me")["email"] == email
        checked.append("signup, login, /users/me")
        if superuser:
            form = {"username": superuser[0], "password": superuser[1]}
            status, tokens = http("POST", f"{base_url}/api/v1/auth/login", form=form)
            admin = expect(status, tokens, 200, "login as the superuser migrate created")
            status, users = http("GET", f"{base_url}/api/v1/users", token=admin["access_token"])
            expect(status, users, 200, "GET /users as the superuser")
            checked.append("superuser from migrate")
    elif auth == "oidc":
        status, refused = http("GET", f"{base_url}/api/v1/me")
        expect(status, refused, 401, "GET /me without a token")
        checked.append("/me refused without a token")
        if oidc_token:
            token = oidc_token
            status, me = http("GET", f"{base_url}/api/v1/me", token=token)
            assert "items:write" in expect(status, me, 200, "GET /me")["permissions"]
            checked.append("/me with a token from the local identity provider")
    elif auth == "api_key":
        if api_key is None:
            command = ["python", "-m", "app.cli", "create-api-key", f"smoke-{marker}"]
            api_key = service_exec("api", command).strip().splitlines()[-1]
            checked.append("an API key created by the CLI in the api service")
        status, refused = http("GET", f"{base_url}/api/v1/api-keys/me")
        expect(status, refused, 401, "GET /api-keys/me without a key")
        status, me = http("GET", f"{base_url}/api/v1/api-keys/me", api_key=api_key)
        expect(status, me, 200, "GET /api-keys/me with the key")
        checked.append(f"/api-keys/me as {me['name']}")
    elif auth != "none":
        pytest.fail(f"the smoke test does not know how to authenticate with auth={auth!r}")

    if answers.get("include_examples") and (auth != "oidc" or token):
        items = f"{base_url}/api/v1/items"
        title = f"Smoke item {marker}"
        status, item = http("POST", items, body={"title": title}, token=token, api_key=api_key)
        item_id = expect(status, item, 201, "create an item")["id"]
        status, found = http("GET", f"{items}/{item_id}", token=token, api_key=api_key)
        assert expect(status, found, 200, "read the item")["title"] == title
        status, page = http("GET", f"{items}?q={marker}", token=token, api_key=api_key)
        assert [i["id"] for i in expect(status, page, 200, "search items")["items"]] == [item_id]
        status, gone = http("DELETE", f"{items}/{item_id}", token=token, api_key=api_key)
        expect(status, gone, 204, "delete the item")
        status, missing = http("GET", f"{items}/{item_id}", token=token, api_key=api_key)
        expect(status, missing, 404, "read the deleted item")
        checked.append("items create, read, search, delete")

    if broker != "none" and auth == "jwt":
        completion = ("email_sent", f"Smoke {marker}", "send_welcome_email")
        wait_for_task(worker_log, "the welcome email queued by signup", *completion)
        checked.append("signup's welcome email sent by the worker")
    elif broker != "none":
        service_exec("worker", ["celery", "-A", "app.core.celery_app", "call", HEARTBEAT_TASK])
        completion = ("worker_heartbeat", "ran_at", HEARTBEAT_TASK)
        wait_for_task(worker_log, "the heartbeat task published from its container", *completion)
        checked.append("a heartbeat published by `celery call` run by the worker")
    return checked


# ---------------------------------------------------------------- the stack, natively


class Timings:
    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self.started = time.monotonic()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps.append((name, time.monotonic() - started))

    def summary(self) -> str:
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.steps)
        return f"{time.monotonic() - self.started:.1f}s ({steps})"


def render_for_stack(variant: str, copie: Any) -> tuple[Path, dict[str, Any]]:
    answers = {**VARIANTS[variant], "project_slug": STACK_SLUGS[variant]}
    result = copie.copy(extra_answers=answers)
    project = assert_rendered(result, f"the {variant!r} variant")
    choose_superuser_password(project)
    return project, result.answers


def choose_superuser_password(project: Path) -> None:
    """Give the first superuser a password in .env, as a deployment would: without one, the
    stack's `migrate` service creates it with a generated password that only its log shows."""
    env_file = project / ".env"
    if "FIRST_SUPERUSER_EMAIL" in stack.parse_env_file(env_file):
        password = secrets.token_urlsafe(18)
        env_file.write_text(f"{env_file.read_text()}FIRST_SUPERUSER_PASSWORD={password}\n")


def admit_api_key(project: Path, answers: Mapping[str, Any]) -> str | None:
    """With API keys in settings (no database), a fresh key whose digest .env now configures,
    as a deployment would; the stack reads .env when it starts."""
    if answers.get("auth") != "api_key" or answers.get("orm", "none") != "none":
        return None
    key = f"ak_{secrets.token_urlsafe(32)}"
    digests = json.dumps({"smoke": hashlib.sha256(key.encode()).hexdigest()})
    env_file = project / ".env"
    kept = [line for line in env_file.read_text().splitlines() if not line.startswith("API_KEY_")]
    env_file.write_text("\n".join([*kept, f"API_KEY_DIGESTS='{digests}'"]) + "\n")
    return key


def package_manager(
    project: Path,
    answers: Mapping[str, Any],
    python: str,
    env: Mapping[str, str],
    poetry_bin: Callable[[str], Path],
) -> Callable[..., None]:
    """Runs the project's package manager (`uv ...` or `poetry ...`) in the project."""
    if answers.get("package_manager", "uv") == "uv":
        return lambda *args: run(["uv", *args], cwd=project, env=env, timeout=900, step=args[0])
    requirement = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["poetry"]
    poetry_env = {
        **env,
        "PATH": os.pathsep.join([str(poetry_bin(requirement["requires-poetry"])), env["PATH"]]),
        "POETRY_NO_INTERACTION": "1",
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
    }

    def poetry(*args: str) -> None:
        run(["poetry", *args], cwd=project, env=poetry_env, timeout=900, step=f"poetry {args[0]}")

    if not pypi_serves_poetry():  # see conftest.py
        poetry("source", "add", "--priority=primary", "pypi-simple", PYPI_SIMPLE)
    poetry("env", "use", python)
    return poetry


def install_runtime(manager: Callable[..., None], answers: Mapping[str, Any]) -> None:
    """Install what the Dockerfile's builder stage installs, the runtime dependencies only, into
    the project's .venv: a dependency the app needs but declares for development only fails
    here as it would in the container."""
    if answers.get("package_manager", "uv") == "uv":
        manager("sync", "--no-dev")
    else:
        manager("install", "--only", "main", "--no-root")


# Runs the project's test identity provider until stdin closes: prints its issuer and a token.
IDENTITY_PROVIDER_SCRIPT = """
import sys
from app.core.config import get_settings
from tests.identity_provider import serve
with serve(audience=get_settings().oidc_audience) as provider:
    print(provider.issuer)
    print(provider.token(sub="smoke", scope="items:read items:write"), flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def identity_provider(project: Path) -> Iterator[str]:
    """Serve an OIDC issuer on 127.0.0.1 and point the stack's .env at it; yields a token."""
    process = subprocess.Popen(
        [str(project / ".venv" / "bin" / "python"), "-c", IDENTITY_PROVIDER_SCRIPT],
        cwd=project,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        issuer, token = process.stdout.readline().strip(), process.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:"), "the identity provider did not start"
        env_file = project / ".env"
        lines = [
            line
            for line in env_file.read_text().splitlines()
            if not line.startswith("OIDC_ISSUER=")
        ]
        env_file.write_text("\n".join([*lines, f"OIDC_ISSUER={issuer}", ""]))
        yield token
    finally:
        process.communicate(input="", timeout=15)


@pytest.mark.variant
@pytest.mark.parametrize("variant", stack_variants())
def test_native_stack(
    variant: str,
    copie: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    timings = Timings()
    with timings.step("render"):
        project, answers = render_for_stack(variant, copie)
        api_key = admit_api_key(project, answers)
    python = python_for(str(answers["python_version"]))
    env = clean_env(UV_PYTHON=python, UV_NO_PROGRESS="1", NO_COLOR="1")
    with timings.step("install"):
        install_runtime(package_manager(project, answers, python, env, poetry_bin), answers)

    with contextlib.ExitStack() as cleanup:
        oidc_token = None
        if answers.get("auth") == "oidc":
            oidc_token = cleanup.enter_context(identity_provider(project))
        redis_offset = cleanup.enter_context(stack.redis_slot())
        native = stack.NativeStack(
            project,
            project / ".venv",
            tmp_path / "stack",
            redis_db_offset=redis_offset,
            amqp_vhost=STACK_SLUGS[variant],
            base_path=env["PATH"],
        )
        for machine in native.machine_services.values():
            require_service(machine.name, stack.HOST, machine.port)
        provision = stack.Provisioner(run)
        for kind, database in sorted(native.databases):
            provision.database(kind, database)
            cleanup.callback(provision.database, kind, database, drop_only=True)
        if "amqp" in native.machine_kinds.values():
            provision.vhost(STACK_SLUGS[variant])
            cleanup.callback(provision.vhost, STACK_SLUGS[variant], delete=True)
        cleanup.callback(native.down)

        with timings.step("up"):
            problem = None
            try:
                native.up()
            except stack.StackError as error:
                problem = str(error)
            if problem:
                pytest.fail(f"{variant}: {problem}", pytrace=False)
        api_env = native.processes["api"].env
        superuser = None
        if "FIRST_SUPERUSER_EMAIL" in api_env and "FIRST_SUPERUSER_PASSWORD" in api_env:
            superuser = (api_env["FIRST_SUPERUSER_EMAIL"], api_env["FIRST_SUPERUSER_PASSWORD"])
        base_url = f"http://{stack.HOST}:{native.port('api', API_PORT)}"
        worker_log = functools.partial(native.logs, "worker")

        def service_exec(service: str, args: list[str]) -> str:
            done = native.exec(service, args)
            assert done.returncode == 0, native.describe(service, done.stdout + done.stderr)
            return done.stdout

        with timings.step("smoke"):
            checked = smoke_test(
                base_url,
                answers,
                superuser,
                worker_log,
                service_exec,
                oidc_token=oidc_token,
                api_key=api_key,
            )
            if "beat" in native.built:
                assert "beat: Starting" in native.logs("beat"), native.describe("beat", "")
                checked.append("beat started, its schedule file fresh")
        stopped = [n for n in native.built if n not in native.one_shot and not native.running(n)]
        assert not stopped, native.describe(stopped[0], "stopped during the smoke test")
        with timings.step("down"):
            native.down()

    ready = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in native.ready_after.items())
    summary = (
        f"{variant}: compose tier (native) {timings.summary()}; ready after: {ready}; "
        f"checked: {'; '.join(checked)}"
    )
    request.node.user_properties.append(("compose_tier", summary))
    print(summary)


# ---------------------------------------------------------------- the stack, in Docker


@functools.cache
def docker_engine_problem() -> str | None:
    """Why `docker info` fails, or None when a Docker engine answers."""
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if info.returncode == 0 else (info.stderr or info.stdout).strip()[-300:]


def docker_override(services: Mapping[str, Mapping[str, Any]]) -> tuple[str, int]:
    """A compose override publishing the api on a free loopback port and no other host port,
    so stacks of several variants, and this machine's own servers, do not collide. The
    `!override` and `!reset` tags need Docker Compose 2.24.4 or newer."""
    api_port = stack.free_port()
    lines = ["services:"]
    for name, service in services.items():
        if not service.get("ports"):
            continue
        lines.append(f"  {name}:")
        if name == "api":
            lines.append(f'    ports: !override ["{stack.HOST}:{api_port}:{API_PORT}"]')
        else:
            lines.append("    ports: !reset []")
    return "\n".join(lines) + "\n", api_port


@pytest.mark.variant
@pytest.mark.parametrize("variant", stack_variants())
def test_docker_stack(
    variant: str, copie: Any, tmp_path: Path, poetry_bin: Callable[[str], Path]
) -> None:
    if problem := docker_engine_problem():
        pytest.skip(
            f"no Docker engine answers (`docker info`: {problem}); test_native_stack runs this "
            "stack's processes instead. This is a skip even with CI=true: the template's CI "
            "machines cannot run a Docker engine."
        )
    project, answers = render_for_stack(variant, copie)
    api_key = admit_api_key(project, answers)
    python = python_for(str(answers["python_version"]))
    env = clean_env(UV_PYTHON=python, UV_NO_PROGRESS="1", NO_COLOR="1")
    package_manager(project, answers, python, env, poetry_bin)("lock")  # the image needs it
    services = stack.load_compose(project).get("services") or {}
    override, api_port = docker_override(services)
    (tmp_path / "compose.override.yaml").write_text(override)
    compose = ["docker", "compose", "-f", "compose.yaml", "-f", tmp_path / "compose.override.yaml"]
    compose += ["-p", STACK_SLUGS[variant]]
    try:
        up = [*compose, "up", "--build", "--detach", "--wait", "--wait-timeout", "300"]
        run(up, cwd=project, env=env, timeout=1200, step="docker compose up")
        superuser = None
        variables = stack.parse_env_file(project / ".env")
        if variables.get("FIRST_SUPERUSER_EMAIL") and variables.get("FIRST_SUPERUSER_PASSWORD"):
            superuser = (variables["FIRST_SUPERUSER_EMAIL"], variables["FIRST_SUPERUSER_PASSWORD"])

        def worker_log() -> str:
            logs = run([*compose, "logs", "--no-color", "worker"], cwd=project, env=env)
            return logs.stdout

        def service_exec(service: str, args: list[str]) -> str:
            return run([*compose, "exec", "-T", service, *args], cwd=project, env=env).stdout

        base_url = f"http://{stack.HOST}:{api_port}"
        smoke_test(base_url, answers, superuser, worker_log, service_exec, api_key=api_key)
    finally:
        down = [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "20"]
        run(down, cwd=project, env=env, timeout=300, step="docker compose down", check=False)

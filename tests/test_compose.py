"""Compose tier, static checks: each variant's compose.yaml and Dockerfile make a stack that
would run.

At render-tier speed, with no services, these cover what the compose-spec schema cannot (the
schema itself is checked in test_render.py): dependencies exist and wait for the right thing,
the services match the answers, long-running services have health checks, host ports are
unique, the settings the app requires are provided (and no secret gets a value written in the
compose file), URLs reach the server containers with the accounts and databases those are
created with (the one thing the native run in test_stack.py cannot see), and the Dockerfile
lints clean, runs as a non-root user and starts the command the api service runs.

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
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from harness.compose import (
    InterpolationError,
    depends_on,
    env_files,
    environment_entries,
    healthcheck_command,
    interpolate,
    load_compose,
    one_shot_services,
    published_ports,
    service_environment,
    start_order,
)
from harness.dockerfile import dockerfile_of, effective_command, parse_dockerfile
from harness.files import parse_env_file
from harness.machine import HOST, SCHEME_KINDS, URL, image_kind
from harness.mail_catcher import SMTP_PORT as MAIL_SMTP_PORT
from harness.mail_catcher import WEB_PORT as MAIL_WEB_PORT
from harness.mail_catcher import mail_catcher_service
from harness.processes import run, tool
from harness.rendering import variant_params

HEALTHY_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
ONE_SHOT_RESTARTS = {"no", "on-failure"}


# ---------------------------------------------------------------- what the answers call for


def expected_machine_kinds(answers: Mapping[str, Any]) -> set[str]:
    """Kinds of server (harness.machine.IMAGE_KINDS values) the variant's app talks to."""
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
    entries = {key.upper(): value for key, value in environment_entries(service).items()}
    if (value := entries.get(name)) is not None:
        try:
            return interpolate(value, {}) != ""
        except InterpolationError:
            return True  # compose stops and names the variable
    for path, required in env_files(service):
        env_file = project / path
        if required and env_file.is_file():
            keys = {key.upper() for key in parse_env_file(env_file)}
            if name in keys:
                return True
    return False


def shared_value(value: str) -> bool:
    """Whether the compose file itself supplies the value (a literal or a default)."""
    try:
        return interpolate(value, {}) != ""
    except InterpolationError:
        return False


# ---------------------------------------------------------------- static checks


@pytest.fixture
def rendered(
    request: pytest.FixtureRequest, render_variant: Callable[[str], Any]
) -> tuple[Path, dict[str, Any], dict[str, dict[str, Any]]]:
    """(project, answers, raw compose services) of the variant rendered once per session."""
    result = render_variant(request.param)
    project = Path(result.project_dir)
    return project, result.answers, load_compose(project).get("services") or {}


def report(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}:\n" + "\n".join(f"  {p}" for p in problems), pytrace=False)


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_depends_on_targets_exist_and_wait_for_the_right_thing(rendered: Any) -> None:
    _, _, services = rendered
    one_shot = one_shot_services(services)
    problems = []
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
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
        start_order(services)
    except (ValueError, KeyError) as error:
        problems.append(str(error))
    report(problems, "depends_on")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_stack_has_the_services_the_answers_need(rendered: Any) -> None:
    _, answers, services = rendered
    machine = {
        name: kind
        for name, service in services.items()
        if "build" not in service and (kind := image_kind(str(service.get("image", ""))))
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
        pending = list(depends_on(services.get(name, {})))
        while pending:
            if (dependency := pending.pop()) not in found and dependency in services:
                found.add(dependency)
                pending += depends_on(services[dependency])
        return found

    broker = {name for name, kind in machine.items() if kind == broker_kind(answers)}
    database = {name for name, kind in machine.items() if kind in {"postgresql", "mysql"}}
    one_shot = one_shot_services(services)
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
def test_mail_goes_to_the_stacks_mail_catcher(rendered: Any) -> None:
    """With accounts, the stack has MailDev, every app service sends to its SMTP port in the
    clear whatever .env says, the services that send wait for it, and only its web UI is
    published, on the loopback address; without accounts, no mail catcher."""
    _, answers, services = rendered
    catcher = mail_catcher_service(services)
    if answers.get("auth") != "jwt":
        assert catcher is None, f"{catcher}: a mail catcher in a stack that sends no mail"
        return
    assert catcher is not None, "a stack with accounts has no MailDev service"
    problems = []
    ports = published_ports(services[catcher])
    if [(port.host_ip, port.container_port) for port in ports] != [(HOST, MAIL_WEB_PORT)]:
        problems.append(f"{catcher} publishes {ports}, not its web UI alone on {HOST}")
    wanted = {
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": catcher,
        "SMTP_PORT": str(MAIL_SMTP_PORT),
        "SMTP_SECURITY": "none",
    }
    sender = "worker" if answers.get("broker") != "none" else "api"
    for name, service in services.items():
        if "build" not in service:
            continue
        entries = environment_entries(service)  # over whatever .env says
        given = {key: entries.get(key) for key in wanted}
        if given != wanted:
            problems.append(f"{name}: mail settings {given}, expected {wanted}")
    if depends_on(services[sender]).get(catcher) != "service_healthy":
        problems.append(f"{sender} sends mail but does not wait for {catcher} to be healthy")
    report(problems, "mail")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_long_running_services_have_health_checks(rendered: Any) -> None:
    project, _, services = rendered
    one_shot = one_shot_services(services)
    problems = []
    for name, service in services.items():
        if name in one_shot:
            continue
        healthcheck = service.get("healthcheck")
        if healthcheck is None and "build" in service:
            image = parse_dockerfile(dockerfile_of(project, service))
            healthcheck = image.healthcheck
        if healthcheck_command(healthcheck) is None:
            problems.append(f"{name} runs until stopped but has no health check")
    report(problems, "health checks")


@pytest.mark.parametrize("rendered", variant_params(), indirect=True)
def test_no_host_port_is_published_twice(rendered: Any) -> None:
    _, _, services = rendered
    owners: dict[tuple[int, str], list[str]] = {}
    for name, service in services.items():
        for port in published_ports(service):
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
        entries = {k.upper(): v for k, v in environment_entries(service).items()}
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
    variables = parse_env_file(project / ".env")
    services = load_compose(project, variables)["services"]
    servers = {
        name: kind
        for name, service in services.items()
        if "build" not in service and (kind := image_kind(str(service.get("image", ""))))
    }
    problems = []
    for name, service in services.items():
        if "build" not in service:
            continue
        for key, value in service_environment(project, service, variables).items():
            for match in URL.finditer(value):
                url = urllib.parse.urlsplit(match[0])
                if url.scheme.split("+")[0] not in SCHEME_KINDS:
                    continue  # not a server the app connects to (CORS origins, say)
                where = f"{name}: {key}={match[0]}"
                if url.hostname in {"localhost", "127.0.0.1", "::1"}:
                    problems.append(f"{where} points at the container itself")
                if url.hostname not in servers or servers[url.hostname] == "redis":
                    continue
                server_env = service_environment(project, services[url.hostname], variables)
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
    image = parse_dockerfile(project / "Dockerfile")
    user = (image.user or "root").split(":")[0]
    assert user not in {"root", "0"}, f"the image runs as {image.user or 'root (no USER)'}"
    assert image.cmd, "the Dockerfile has no CMD"
    api = services["api"]
    assert dockerfile_of(project, api).resolve() == (project / "Dockerfile").resolve()
    command = effective_command(api, image)
    assert command == [*image.entrypoint, *image.cmd], (
        f"the api service runs {command}, not the image's start command "
        f"{[*image.entrypoint, *image.cmd]}: one of them is not what production runs"
    )

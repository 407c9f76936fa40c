"""A generated project's Compose stack, read as data and run natively on this machine.

No Docker engine runs on the template's machines, so the compose tier starts the processes the
containers would run: each service with `build` (migrate, api, worker, beat) runs its command
from the rendered compose file and Dockerfile, with the environment the container would get
(the image's ENV, then env_file, then environment, `${VAR:-default}` interpolated from the
project's .env as compose does). The services from images (db, redis, rabbitmq) are this
machine's own servers. What a container would isolate is emulated, and nothing else changes:

- a service gets its own copy of what the Dockerfile COPYs, as its working directory (so the
  project's .env, which .dockerignore keeps out of the image, is not there either), with the
  project's virtualenv in the image's place, and its own directory for /tmp;
- host names of image services become 127.0.0.1 with this machine's port and credentials
  (PostgreSQL as postgres, MariaDB as root, RabbitMQ as guest); Redis database numbers are
  moved into a slot of databases that this runner holds a lock on, and RabbitMQ gets a vhost
  of the stack's own, so stacks running side by side never consume each other's tasks;
- ports a service publishes become free ports on 127.0.0.1, in its command and health check,
  and it binds 127.0.0.1 where the container binds 0.0.0.0.

Services start in the order depends_on gives and wait for its conditions: exit code 0 for
service_completed_successfully, the service's own health check (run like `docker exec`) for
service_healthy, and a TCP answer from this machine's server for an image service. `up()`
then waits, like `docker compose up --wait`, until every long-running service is healthy.
Every process runs in its own process group and is stopped by PID, with bounded waits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from conftest import load_yaml_documents, parse_env_file

LOCK_DIR = Path(tempfile.gettempdir()) / "fastapi-template-tests"

# ---------------------------------------------------------------- compose files

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERPOLATION = re.compile(
    rf"\$(?:(?P<escaped>\$)|\{{(?P<braced>{_NAME})(?:(?P<op>:?[-?+])"
    rf"(?P<arg>(?:[^{{}}]|\{{[^{{}}]*\}})*))?\}}|(?P<bare>{_NAME}))"
)


class InterpolationError(ValueError):
    """`${VAR:?message}` with VAR unset: compose refuses to start and prints the message."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's variable interpolation: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR:?error}..."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value = variables.get(name)
        op, arg = match["op"], interpolate(match["arg"] or "", variables)
        is_set = value is not None and (value != "" or not (op or "").startswith(":"))
        if op in {"-", ":-"}:
            return value if is_set and value is not None else arg
        if op in {"?", ":?"}:
            if not is_set or value is None:
                raise InterpolationError(f"{name}: {arg or 'required variable is missing'}")
            return value
        if op in {"+", ":+"}:
            return arg if is_set else ""
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def _interpolate_tree(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def compose_path(project: Path) -> Path:
    for name in ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"):
        if (project / name).is_file():
            return project / name
    raise FileNotFoundError(f"{project} has no compose file")


def load_compose(project: Path, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as data; interpolated when `variables` is given (raw otherwise)."""
    (document,) = load_yaml_documents(compose_path(project).read_text())
    return _interpolate_tree(document, variables) if variables is not None else document


def as_command(value: Any) -> list[str]:
    """A command, entrypoint or exec-form list as arguments (compose splits strings)."""
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Dependency name -> condition (the list form means service_started)."""
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return dict.fromkeys(value, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in value.items()}


def start_order(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Services in an order that starts every dependency first (file order among equals)."""
    order: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"depends_on has a cycle: {' -> '.join([*visiting, name])}")
        visiting.append(name)
        for dependency in depends_on(services[name]):
            visit(dependency)
        visiting.pop()
        order.append(name)

    for name in services:
        visit(name)
    return order


def one_shot_services(services: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Services that others wait for to finish: they run once and exit."""
    return {
        dependency
        for service in services.values()
        for dependency, condition in depends_on(service).items()
        if condition == "service_completed_successfully"
    }


def env_files(service: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(path, required) of each env_file entry, in order."""
    value = service.get("env_file") or []
    entries = [value] if isinstance(value, str | dict) else value
    return [
        (entry, True) if isinstance(entry, str) else (entry["path"], entry.get("required", True))
        for entry in entries
    ]


def environment_entries(service: Mapping[str, Any]) -> dict[str, str | None]:
    """The service's `environment` as a mapping; None where only a name is given."""
    value = service.get("environment") or {}
    if isinstance(value, list):
        pairs = (entry.partition("=") for entry in value)
        return {name: (text if sep else None) for name, sep, text in pairs}
    return {
        name: None if text is None else str(text).lower() if isinstance(text, bool) else str(text)
        for name, text in value.items()
    }


def service_environment(
    project: Path, service: Mapping[str, Any], variables: Mapping[str, str]
) -> dict[str, str]:
    """What compose passes to the container: env_file values, then `environment` over them."""
    environment: dict[str, str] = {}
    for path, required in env_files(service):
        if (project / path).is_file():
            environment.update(parse_env_file(project / path))
        elif required:
            raise FileNotFoundError(f"env_file {path} is missing and required")
    for name, value in environment_entries(service).items():
        if value is not None:
            environment[name] = value
        elif name in variables:
            environment[name] = variables[name]
    return environment


@dataclass(frozen=True)
class Port:
    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"


def published_ports(service: Mapping[str, Any]) -> list[Port]:
    """The service's published ports, short ("[ip:]host:container[/proto]") or long syntax."""
    ports: list[Port] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            host_ip = str(entry.get("host_ip") or "")
            published, target = str(entry.get("published") or ""), str(entry["target"])
            protocol = str(entry.get("protocol") or "tcp")
        else:
            spec, _, protocol = str(entry).partition("/")
            *host, target = spec.rsplit(":", 2)
            host_ip, published = ["", "", *host][-2:]
        targets = _port_range(target)
        hosts = _port_range(published) if published else [0] * len(targets)
        for host_port, container_port in zip(hosts, targets, strict=True):
            ports.append(Port(host_ip or "0.0.0.0", host_port, container_port, protocol or "tcp"))
    return ports


def _port_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def healthcheck_command(healthcheck: Mapping[str, Any] | None) -> list[str] | None:
    """The health check as arguments; None when there is none or it is disabled."""
    if not healthcheck or healthcheck.get("disable"):
        return None
    test = healthcheck.get("test")
    if isinstance(test, str):
        return ["/bin/sh", "-c", test]
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return [str(part) for part in (test[1:] if test[0] == "CMD" else test)]


def seconds(duration: Any, default: float) -> float:
    """A compose or Dockerfile duration ("30s", "1m30s", "500ms") in seconds."""
    if duration is None:
        return default
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    return sum(float(number) * units[unit] for number, unit in parts) if parts else default


# ---------------------------------------------------------------- Dockerfiles


@dataclass
class Dockerfile:
    """What the final stage of a Dockerfile puts in the image."""

    workdir: str = "/"
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: dict[str, Any] | None = None


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _exec_form(arguments: str) -> list[str]:
    return json.loads(arguments) if arguments.startswith("[") else ["/bin/sh", "-c", arguments]


def _expand(value: str, env: Mapping[str, str]) -> str:
    pattern = rf"\$(?:\{{({_NAME})\}}|({_NAME}))"
    return re.sub(pattern, lambda m: env.get(m[1] or m[2], ""), value)


def parse_dockerfile(path: Path) -> Dockerfile:
    image = Dockerfile()
    for keyword, arguments in dockerfile_instructions(path.read_text()):
        if keyword == "FROM":
            image = Dockerfile()
        elif keyword == "WORKDIR":
            image.workdir = os.path.normpath(os.path.join(image.workdir, arguments))
        elif keyword == "USER":
            image.user = arguments
        elif keyword == "ENV":
            words = shlex.split(arguments)
            pairs = [w.partition("=")[::2] for w in words] if "=" in words[0] else [words[:2]]
            image.env.update(pairs)
        elif keyword in {"COPY", "ADD"}:
            words = shlex.split(arguments)
            if not any(word.startswith("--from") for word in words):
                paths = [word for word in words if not word.startswith("--")]
                image.copies.append((paths[:-1], paths[-1]))
        elif keyword == "ENTRYPOINT":
            image.entrypoint, image.cmd = _exec_form(arguments), []
        elif keyword == "CMD":
            image.cmd = _exec_form(arguments)
        elif keyword == "HEALTHCHECK":
            options = dict(re.findall(r"--([a-z-]+)=(\S+)", arguments))
            command = re.sub(r"^(--[a-z-]+=\S+\s+)*", "", arguments)
            if command.upper() == "NONE":
                image.healthcheck = {"disable": True}
            else:
                image.healthcheck = {
                    "test": ["CMD", *_exec_form(command.partition(" ")[2].strip())],
                    "interval": options.get("interval"),
                    "timeout": options.get("timeout"),
                    "start_period": options.get("start-period"),
                    "retries": int(options.get("retries", 3)),
                }
    return image


def dockerfile_of(project: Path, service: Mapping[str, Any]) -> Path:
    build = service["build"]
    context = project / (build if isinstance(build, str) else build.get("context", "."))
    return context / (
        build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
    )


def effective_command(service: Mapping[str, Any], image: Dockerfile) -> list[str]:
    """What the container runs: compose's entrypoint/command over the image's."""
    if "entrypoint" in service:
        return [*as_command(service["entrypoint"]), *as_command(service.get("command"))]
    command = as_command(service["command"]) if "command" in service else image.cmd
    return [*image.entrypoint, *command]


# ---------------------------------------------------------------- this machine's services

# The kind of server an image provides, by the image's name.
IMAGE_KINDS = {
    "postgres": "postgresql",
    "mariadb": "mysql",
    "mysql": "mysql",
    "redis": "redis",
    "valkey": "redis",
    "rabbitmq": "amqp",
}


def image_kind(image: str) -> str | None:
    name = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    return IMAGE_KINDS.get(name)


@dataclass(frozen=True)
class MachineService:
    name: str
    port: int
    user: str | None = None
    password: str | None = None


# This machine's servers, by kind and by URL scheme (before any "+driver").
MACHINE = {
    "postgresql": MachineService("PostgreSQL", 5432, "postgres"),
    "mysql": MachineService("MariaDB", 3306, "root"),
    "redis": MachineService("Redis", 6379),
    "amqp": MachineService("RabbitMQ", 5672, "guest", "guest"),
}
SCHEME_KINDS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "redis": "redis",
    "amqp": "amqp",
    "pyamqp": "amqp",
}
HOST = "127.0.0.1"
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"]+")
REDIS_SLOT_WIDTH = 3
# Databases 0-2 are what a developer's generated project uses, 13-15 its test suite's.
REDIS_SLOTS = (3, 6, 9)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def redis_slot(timeout: float = 900) -> Iterator[int]:
    """The first Redis database of a slot this process holds a lock on until it exits."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for first in REDIS_SLOTS:
            with (LOCK_DIR / f"redis-db-{first}.lock").open("w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    yield first
                    return
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Redis database slot was free within {timeout:g}s")
        time.sleep(1)


@dataclass
class Provisioner:
    """Creates and drops what a stack needs on this machine's servers."""

    run: Any  # conftest.run

    def database(self, kind: str, name: str, *, drop_only: bool = False) -> None:
        machine = MACHINE[kind]
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        create = f'CREATE DATABASE "{name}"'
        if kind == "postgresql":
            client = [shutil.which("psql") or "psql", "-h", HOST, "-p", str(machine.port)]
            client += ["-U", str(machine.user), "-d", "postgres", "-X", "-q"]
            statements = [drop] if drop_only else [drop, create]
            cmd = [*client, "-v", "ON_ERROR_STOP=1", *(f"-c{sql}" for sql in statements)]
        elif kind == "mysql":
            drop, create = (
                sql.replace('"', "`").replace(" WITH (FORCE)", "") for sql in (drop, create)
            )
            client = [shutil.which("mariadb") or shutil.which("mysql") or "mariadb", "-h", HOST]
            client += ["-P", str(machine.port), "-u", str(machine.user)]
            cmd = [*client, "-e", drop if drop_only else f"{drop}; {create}"]
        else:
            raise ValueError(f"cannot create {kind} databases")
        env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
        self.run(cmd, cwd=tempfile.gettempdir(), env=env, timeout=60, step=f"{kind} {name}")

    def vhost(self, name: str, *, delete: bool = False) -> None:
        ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
        if delete:
            self.run([ctl, "delete_vhost", name], cwd="/", timeout=60, check=False)
            return
        self.run([ctl, "add_vhost", name], cwd="/", timeout=60, check=False)
        permissions = [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"]
        self.run(permissions, cwd="/", timeout=60, step=f"RabbitMQ vhost {name}")


# ---------------------------------------------------------------- the native stack


class StackError(AssertionError):
    """A service did not start, exited, or never became healthy."""


@dataclass
class Process:
    name: str
    args: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    healthcheck: list[str] | None = None
    health_timing: dict[str, float] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None


class NativeStack:
    """The project's compose stack, its built services run as processes on this machine."""

    def __init__(
        self,
        project: Path,
        venv: Path,
        scratch: Path,
        *,
        redis_db_offset: int = 0,
        amqp_vhost: str | None = None,
        base_path: str = os.defpath,
    ) -> None:
        self.project = project
        self.scratch = scratch
        self.variables = parse_env_file(project / ".env") if (project / ".env").is_file() else {}
        self.compose = load_compose(project, self.variables)
        self.services: dict[str, dict[str, Any]] = self.compose.get("services") or {}
        self.built = [name for name in start_order(self.services) if "build" in self.services[name]]
        self.one_shot = one_shot_services(self.services)
        self.redis_db_offset = redis_db_offset
        self.amqp_vhost = amqp_vhost
        self.databases: set[tuple[str, str]] = set()
        #: seconds from up() until each long-running service was healthy
        self.ready_after: dict[str, float] = {}
        self.up_started = 0.0
        self.machine_kinds = {
            name: kind
            for name, service in self.services.items()
            if "build" not in service and (kind := image_kind(str(service.get("image", ""))))
        }
        # container port -> native port, for every port a built service publishes or exposes
        self.native_ports = {
            name: {port.container_port: free_port() for port in published_ports(service)}
            | {int(str(p).split("/")[0]): free_port() for p in service.get("expose") or []}
            for name, service in self.services.items()
            if name in self.built
        }
        self.processes = {name: self._prepare(name, venv, base_path) for name in self.built}

    # ------------------------------------------------------------ what each process gets

    def _prepare(self, name: str, venv: Path, base_path: str) -> Process:
        service = self.services[name]
        image = parse_dockerfile(dockerfile_of(self.project, service))
        root = self.scratch / name
        workdir = root / "app"
        shutil.rmtree(root, ignore_errors=True)
        (root / "tmp").mkdir(parents=True)
        paths = {image.workdir: workdir, "/tmp": root / "tmp"}  # the container's
        for source, target in self._volumes(service):
            paths[target] = source
        context = dockerfile_of(self.project, service).parent
        for sources, destination in image.copies:
            target = Path(self._map_paths(os.path.join(image.workdir, destination), paths))
            for source in sources:
                origin = context / source
                into = target / origin.name if destination.endswith("/") else target
                if origin.is_dir():
                    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
                    shutil.copytree(origin, into, ignore=ignore, dirs_exist_ok=True)
                else:
                    into.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, into)
        workdir.mkdir(parents=True, exist_ok=True)
        # The image's virtualenv: the project's own, synced on this machine.
        (workdir / ".venv").symlink_to(venv, target_is_directory=True)

        env = {
            "PATH": base_path,
            "HOME": str(root / "tmp"),
            "HOSTNAME": socket.gethostname(),
            "LANG": "C.UTF-8",
            "TMPDIR": str(root / "tmp"),
        }
        for key, value in image.env.items():  # in order, each may use the ones before
            env[key] = _expand(self._map_paths(value, paths), env)
        for key, value in service_environment(self.project, service, self.variables).items():
            env[key] = self._localize_env(self._map_paths(value, paths))

        ports = self.native_ports[name]
        healthcheck = service.get("healthcheck", image.healthcheck)
        health_args = healthcheck_command(healthcheck)
        return Process(
            name=name,
            args=[self._localize_arg(a, paths, ports) for a in effective_command(service, image)],
            cwd=Path(self._map_paths(service.get("working_dir", image.workdir), paths)),
            env=env,
            log=root / f"{name}.log",
            healthcheck=None
            if health_args is None
            else [self._localize_arg(a, paths, ports) for a in health_args],
            health_timing={
                "interval": seconds((healthcheck or {}).get("interval"), 30),
                "timeout": seconds((healthcheck or {}).get("timeout"), 30),
                "start_period": seconds((healthcheck or {}).get("start_period"), 0),
                "retries": float((healthcheck or {}).get("retries") or 3),
            },
        )

    def _volumes(self, service: Mapping[str, Any]) -> list[tuple[Path, str]]:
        """(directory on this machine, path in the container) for each volume."""
        mounts = []
        for entry in service.get("volumes") or []:
            if isinstance(entry, dict):
                source, target = str(entry.get("source", "")), str(entry["target"])
            else:
                source, _, rest = str(entry).partition(":")
                target = rest.split(":")[0] if rest else source
            if source.startswith((".", "/")):
                directory = (self.project / source).resolve()
            else:
                directory = self.scratch / "volumes" / (source or target.strip("/"))
            directory.mkdir(parents=True, exist_ok=True)
            mounts.append((directory, target))
        return mounts

    @staticmethod
    def _map_paths(value: str, paths: Mapping[str, Path]) -> str:
        """Replace container paths (and what is below them) by their places here, in one pass."""
        inside = sorted((p.rstrip("/") for p in paths if p.rstrip("/")), key=len, reverse=True)
        if not inside:
            return value
        targets = {p.rstrip("/"): str(place) for p, place in paths.items()}
        alternatives = "|".join(re.escape(p) for p in inside)
        pattern = rf"(?<![\w.-])({alternatives})(?=/|$|[^\w.-])"
        return re.sub(pattern, lambda match: targets[match[1]], value)

    def _localize_arg(self, arg: str, paths: Mapping[str, Path], ports: Mapping[int, int]) -> str:
        arg = self._map_paths(arg, paths)
        for inside, native in ports.items():
            arg = re.sub(rf"^{inside}$|(?<=:){inside}(?!\d)", str(native), arg)
        arg = re.sub(r"^0\.0\.0\.0$|(?<![\d.])0\.0\.0\.0(?=:)", HOST, arg)
        return self._localize_urls(arg)

    def _localize_env(self, value: str) -> str:
        """An environment value: a bare host name of a server, or URLs pointing at services."""
        return HOST if value in self.machine_kinds else self._localize_urls(value)

    def _localize_urls(self, value: str) -> str:
        def url(match: re.Match[str]) -> str:
            return self._localize_url(urlsplit(match[0]), match[0])

        return URL.sub(url, value)

    def _localize_url(self, parts: SplitResult, original: str) -> str:
        host = parts.hostname
        if host in self.native_ports:
            port = self.native_ports[host].get(parts.port or 80, parts.port)
            return urlunsplit(parts._replace(netloc=f"{HOST}:{port}"))
        if host not in self.machine_kinds:
            # Unchanged: rebuilding it would drop the empty authority of sqlite:////path.
            return original
        kind = SCHEME_KINDS.get(parts.scheme.split("+")[0], self.machine_kinds[host])
        machine = MACHINE[kind]
        credentials = quote(machine.user or "", safe="")
        if machine.password:
            credentials += ":" + quote(machine.password, safe="")
        netloc = f"{credentials}@" if credentials else ""
        path = parts.path
        if kind == "redis":
            number = int(path.strip("/") or 0)
            if number >= REDIS_SLOT_WIDTH:
                raise StackError(f"Redis database {number} is outside the slot this runner maps")
            path = f"/{self.redis_db_offset + number}"
        elif kind == "amqp" and self.amqp_vhost:
            path = "/" + quote(self.amqp_vhost, safe="")
        elif kind in {"postgresql", "mysql"} and path.strip("/"):
            self.databases.add((kind, path.strip("/")))
        return urlunsplit(parts._replace(netloc=f"{netloc}{HOST}:{machine.port}", path=path))

    # ------------------------------------------------------------ running

    @property
    def machine_services(self) -> dict[str, MachineService]:
        return {name: MACHINE[kind] for name, kind in self.machine_kinds.items()}

    def up(self, timeout: float = 240) -> None:
        """Start every built service in order, then wait until all are healthy (--wait)."""
        self.up_started = time.monotonic()
        deadline = self.up_started + timeout
        for name in self.built:
            for dependency, condition in depends_on(self.services[name]).items():
                self._wait_for(dependency, condition, deadline)
            self._start(self.processes[name])
        for name in self.built:
            if name in self.one_shot:
                continue
            if self.processes[name].healthcheck is not None:
                self._wait_healthy(self.processes[name], deadline)
            elif not self.running(name):
                raise StackError(self.describe(name, "exited"))
            self.ready_after[name] = time.monotonic() - self.up_started

    def _start(self, process: Process) -> None:
        with process.log.open("wb") as log:
            process.popen = subprocess.Popen(  # the compose file's own command
                process.args,
                cwd=process.cwd,
                env=process.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_for(self, name: str, condition: str, deadline: float) -> None:
        if name in self.machine_kinds:
            machine = self.machine_services[name]
            if not _answers(machine.port):
                raise StackError(f"{machine.name} is not answering on {HOST}:{machine.port}")
            return
        process = self.processes[name]
        if condition == "service_completed_successfully":
            assert process.popen is not None
            try:
                code = process.popen.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise StackError(self.describe(name, "did not finish in time")) from None
            if code != 0:
                raise StackError(self.describe(name, f"exited with code {code}"))
            self.ready_after.setdefault(name, time.monotonic() - self.up_started)
        elif condition == "service_healthy":
            self._wait_healthy(process, deadline)

    def _wait_healthy(self, process: Process, deadline: float) -> None:
        """Run the health check until it passes, within what its settings allow."""
        if process.healthcheck is None:
            raise StackError(self.describe(process.name, "has no health check to wait for"))
        timing = process.health_timing
        allowed = timing["start_period"] + (timing["retries"] + 1) * timing["interval"]
        own_deadline = min(deadline, time.monotonic() + allowed)
        last = "never ran"
        while True:
            assert process.popen is not None
            if process.popen.poll() is not None:
                code = process.popen.returncode
                raise StackError(self.describe(process.name, f"exited with code {code}"))
            try:
                check = self.exec(process.name, process.healthcheck, timeout=timing["timeout"])
                if check.returncode == 0:
                    return
                last = f"exit code {check.returncode}: {(check.stdout + check.stderr)[-800:]}"
            except subprocess.TimeoutExpired:
                last = f"timed out after {timing['timeout']:g}s"
            if time.monotonic() > own_deadline:
                check = shlex.join(process.healthcheck)
                raise StackError(
                    self.describe(process.name, f"never became healthy: {check}\n{last}")
                )
            time.sleep(1)

    def exec(
        self, name: str, args: list[str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a service's environment, like `docker compose exec`."""
        process = self.processes[name]
        return subprocess.run(  # the compose file's own health checks
            args,
            cwd=process.cwd,
            env=process.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def port(self, name: str, container_port: int) -> int:
        return self.native_ports[name][container_port]

    def running(self, name: str) -> bool:
        popen = self.processes[name].popen
        return popen is not None and popen.poll() is None

    def logs(self, name: str) -> str:
        log = self.processes[name].log
        return log.read_text(errors="replace") if log.exists() else ""

    def describe(self, name: str, problem: str) -> str:
        tail = "\n".join(self.logs(name).splitlines()[-40:])
        command = shlex.join(self.processes[name].args)
        return f"service {name} {problem}\ncommand: {command}\n--- log (last 40 lines) ---\n{tail}"

    def down(self, grace: float = 20) -> None:
        """Stop every process group this stack started, newest first, by PID."""
        for name in reversed(self.built):
            popen = self.processes[name].popen
            if popen is None or popen.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)
            # Children left in the group (a worker's pool) go with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)


def _answers(port: int, timeout: float = 3) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False

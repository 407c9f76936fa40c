"""A generated project's Compose stack, read as data and run natively on this machine.

No Docker engine runs on the template's machines, so the compose tier starts the processes the
containers would run: each service with `build` (migrate, api, worker, beat) runs its command
from the rendered compose file and Dockerfile, with the environment the container would get
(the image's ENV, then env_file, then environment, `${VAR:-default}` interpolated from the
project's .env as compose does). The services from images (db, redis, rabbitmq) are this
machine's own servers, except the mail catcher: MailDev of the image's release runs as a
process too, on this machine's Node.js (harness/mail_catcher.py), with its compose health check.
What a container would isolate is emulated, and nothing else changes:

- a service gets its own copy of what the Dockerfile COPYs, as its working directory (so the
  project's .env, which .dockerignore keeps out of the image, is not there either), with the
  project's virtualenv in the image's place, and its own directory for /tmp;
- host names of image services become 127.0.0.1 with this machine's port and credentials
  (PostgreSQL as postgres, MariaDB as root, RabbitMQ as guest); Redis database numbers are
  moved into a slot of databases that this runner holds a lock on, and RabbitMQ gets a vhost
  of the stack's own, so stacks running side by side never consume each other's tasks;
- ports a service publishes become free ports on 127.0.0.1, in its command and health check,
  and it binds 127.0.0.1 where the container binds 0.0.0.0; the mail catcher's SMTP and web
  ports too, and a `X_HOST` naming it becomes 127.0.0.1 with its `X_PORT` moved alike.

Services start in the order depends_on gives and wait for its conditions: exit code 0 for
service_completed_successfully, the service's own health check (run like `docker exec`) for
service_healthy, and a TCP answer from this machine's server for an image service. `up()`
then waits, like `docker compose up --wait`, until every long-running service is healthy.
Every process runs in its own process group and is stopped by PID, with bounded waits.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

from .compose import (
    as_command,
    depends_on,
    healthcheck_command,
    load_compose,
    one_shot_services,
    published_ports,
    seconds,
    service_environment,
    start_order,
)
from .dockerfile import dockerfile_of, effective_command, expand, parse_dockerfile
from .files import parse_env_file
from .machine import (
    HOST,
    MACHINE,
    REDIS_SLOT_WIDTH,
    SCHEME_KINDS,
    URL,
    MachineService,
    answers,
    free_port,
    image_kind,
)
from .mail_catcher import SMTP_PORT, WEB_PORT, image_version, is_mail_catcher, native_command


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


def health_timing(healthcheck: Mapping[str, Any] | None) -> dict[str, float]:
    """A health check's interval, timeout, start period (seconds) and retries, or Docker's
    defaults."""
    return {
        "interval": seconds((healthcheck or {}).get("interval"), 30),
        "timeout": seconds((healthcheck or {}).get("timeout"), 30),
        "start_period": seconds((healthcheck or {}).get("start_period"), 0),
        "retries": float((healthcheck or {}).get("retries") or 3),
    }


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
        # Services from the MailDev image: run here as processes, like the built ones.
        self.mail_catchers = [
            name
            for name, service in self.services.items()
            if "build" not in service and is_mail_catcher(str(service.get("image", "")))
        ]
        # Every service run as a process here, in start order.
        self.started = [
            name
            for name in start_order(self.services)
            if name in self.built or name in self.mail_catchers
        ]
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
        } | {name: {SMTP_PORT: free_port(), WEB_PORT: free_port()} for name in self.mail_catchers}
        self.processes = {
            name: self._prepare_mail_catcher(name, base_path)
            if name in self.mail_catchers
            else self._prepare(name, venv, base_path)
            for name in self.started
        }

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
            env[key] = expand(self._map_paths(value, paths), env)
        for key, value in service_environment(self.project, service, self.variables).items():
            env[key] = self._localize_env(self._map_paths(value, paths))
        for key, value in list(env.items()):
            # SMTP_HOST=mail, SMTP_PORT=1025: a host and its port in two variables.
            prefix = key.removesuffix("_HOST")
            if prefix != key and value in self.mail_catchers:
                env[key] = HOST
                port = env.get(f"{prefix}_PORT", "")
                if port.isdigit() and int(port) in self.native_ports[value]:
                    env[f"{prefix}_PORT"] = str(self.native_ports[value][int(port)])

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
            health_timing=health_timing(healthcheck),
        )

    def _prepare_mail_catcher(self, name: str, base_path: str) -> Process:
        """MailDev of the image's release, its ports moved (by the variables the image reads),
        bound to 127.0.0.1, checked by the service's own health check."""
        service = self.services[name]
        root = self.scratch / name
        shutil.rmtree(root, ignore_errors=True)
        (root / "tmp").mkdir(parents=True)
        ports = self.native_ports[name]
        env = {
            "PATH": base_path,
            "HOME": str(root / "tmp"),
            "LANG": "C.UTF-8",
            "TMPDIR": str(root / "tmp"),  # where MailDev keeps the messages
            **service_environment(self.project, service, self.variables),
            "MAILDEV_SMTP_PORT": str(ports[SMTP_PORT]),
            "MAILDEV_WEB_PORT": str(ports[WEB_PORT]),
            "MAILDEV_IP": HOST,
        }
        healthcheck = service.get("healthcheck")
        health_args = healthcheck_command(healthcheck)
        return Process(
            name=name,
            args=[
                *native_command(image_version(str(service["image"])), base_path),
                *as_command(service.get("command")),
            ],
            cwd=root,
            env=env,
            log=root / f"{name}.log",
            healthcheck=None
            if health_args is None
            else [self._localize_arg(a, {}, ports) for a in health_args],
            health_timing=health_timing(healthcheck),
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
        """Start every service run here in order, then wait until all are healthy (--wait)."""
        self.up_started = time.monotonic()
        deadline = self.up_started + timeout
        for name in self.started:
            for dependency, condition in depends_on(self.services[name]).items():
                self._wait_for(dependency, condition, deadline)
            self._start(self.processes[name])
        for name in self.started:
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
            if not answers(machine.port):
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
        for name in reversed(self.started):
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

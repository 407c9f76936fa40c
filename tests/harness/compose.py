"""A Compose file read as data, as `docker compose` reads it.

Variable interpolation (`${VAR:-default}`, `${VAR:?message}`, ...), dependencies and the order
they give, each service's environment (env_file, then environment), published ports, health
checks and durations.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import load_yaml_documents, parse_env_file
from .machine import HOST, free_port
from .mail_catcher import WEB_PORT as MAIL_WEB_PORT
from .mail_catcher import is_mail_catcher

VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INTERPOLATION = re.compile(
    rf"\$(?:(?P<escaped>\$)|\{{(?P<braced>{VARIABLE_NAME})(?:(?P<op>:?[-?+])"
    rf"(?P<arg>(?:[^{{}}]|\{{[^{{}}]*\}})*))?\}}|(?P<bare>{VARIABLE_NAME}))"
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


# The port the api service listens on inside its container.
API_PORT = 8000


def docker_override(services: Mapping[str, Mapping[str, Any]]) -> tuple[str, dict[str, int]]:
    """A compose override publishing the api, and the mail catcher's web API, each on a free
    loopback port, and no other host port, so stacks of several variants, and this machine's
    own servers, do not collide; with the host port of each service it publishes. The
    `!override` and `!reset` tags need Docker Compose 2.24.4 or newer."""
    host_ports: dict[str, int] = {}
    lines = ["services:"]
    for name, service in services.items():
        if not service.get("ports"):
            continue
        lines.append(f"  {name}:")
        if name == "api":
            inside = API_PORT
        elif "build" not in service and is_mail_catcher(str(service.get("image", ""))):
            inside = MAIL_WEB_PORT
        else:
            lines.append("    ports: !reset []")
            continue
        host_ports[name] = free_port()
        lines.append(f'    ports: !override ["{HOST}:{host_ports[name]}:{inside}"]')
    return "\n".join(lines) + "\n", host_ports

"""What a Dockerfile's final stage puts in the image, and what a compose service runs from it."""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compose import VARIABLE_NAME, as_command


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


def expand(value: str, env: Mapping[str, str]) -> str:
    """`$VAR` and `${VAR}` replaced as ENV does, from the variables set before."""
    pattern = rf"\$(?:\{{({VARIABLE_NAME})\}}|({VARIABLE_NAME}))"
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

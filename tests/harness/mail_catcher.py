"""The stack's mail catcher: MailDev, as compose runs it, natively, and read over its REST API.

A generated stack with accounts has a `mail` service from the official MailDev image
(`maildev/maildev:TAG`); the app services send to its SMTP port and the web UI and REST API
listen on its web port. In containers it is that image (or its stand-in, tests/images/maildev).
The native run starts the same MailDev release from the npm registry on this machine's Node.js
(installed once per machine under INSTALL_DIR), with its ports moved to free ones on 127.0.0.1.
The smoke test reads what arrived with `wait_for_message`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .machine import exclusive_lock

# What the official image documents (EXPOSE 1080 1025, MAILDEV_WEB_PORT, MAILDEV_SMTP_PORT).
SMTP_PORT = 1025
WEB_PORT = 1080
INSTALL_DIR = Path(os.environ.get("TEMPLATE_MAILDEV_DIR", "/var/tmp/fastapi-template-maildev"))
NPM_TIMEOUT = 600


class MailCatcherError(RuntimeError):
    """MailDev cannot run on this machine; the message says why."""


def is_mail_catcher(image: str) -> bool:
    """Whether an image reference is MailDev's (`maildev/maildev:2.2.1`, `docker.io/...`)."""
    path, _, last = image.split("@")[0].rpartition("/")
    return f"{path}/{last.split(':')[0]}".removeprefix("docker.io/") == "maildev/maildev"


def mail_catcher_service(services: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The name of the stack's MailDev service, None when it has none."""
    return next(
        (
            name
            for name, service in services.items()
            if "build" not in service and is_mail_catcher(str(service.get("image", "")))
        ),
        None,
    )


def image_version(image: str) -> str:
    """The npm version of MailDev an image tag names (`latest` for an untagged image)."""
    name = image.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def native_command(version: str, path: str | None = None) -> list[str]:
    """`maildev` of that release on this machine's Node.js, installed from the npm registry once.

    Raises MailCatcherError when Node.js or npm is missing or the install fails.
    """
    node, npm = shutil.which("node", path=path), shutil.which("npm", path=path)
    if node is None or npm is None:
        raise MailCatcherError(
            "MailDev needs Node.js and npm on the PATH (the mail service of stacks with accounts)"
        )
    prefix = INSTALL_DIR / version
    script = prefix / "node_modules" / "maildev" / "bin" / "maildev"
    with exclusive_lock(INSTALL_DIR / "install.lock"):
        if not script.is_file():
            shutil.rmtree(prefix, ignore_errors=True)
            prefix.mkdir(parents=True)
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--no-fund",
                    "--no-audit",
                    f"maildev@{version}",
                ],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
            if done.returncode != 0 or not script.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                shutil.rmtree(prefix, ignore_errors=True)
                raise MailCatcherError(f"npm install maildev@{version} failed: {' '.join(tail)}")
    return [node, str(script)]


def messages(web_url: str) -> list[dict[str, Any]]:
    """Every message MailDev holds (GET /email)."""
    with urllib.request.urlopen(f"{web_url}/email", timeout=10) as response:
        return list(json.loads(response.read()))


def recipients(message: dict[str, Any]) -> list[str]:
    return [str(entry.get("address", "")).lower() for entry in message.get("to") or []]


def wait_for_message(web_url: str, to: str, timeout: float = 60) -> dict[str, Any]:
    """The first message MailDev received for `to`, polled for at most `timeout` seconds.

    Raises AssertionError naming what did arrive when none comes in time.
    """
    deadline = time.monotonic() + timeout
    held: list[dict[str, Any]] = []
    while True:
        try:
            held = messages(web_url)
        except (OSError, ValueError):
            held = []
        for message in held:
            if to.lower() in recipients(message):
                return message
        if time.monotonic() > deadline:
            seen = [f"{recipients(m)} {m.get('subject')!r}" for m in held] or ["none"]
            raise AssertionError(
                f"no message to {to} reached MailDev ({web_url}) within {timeout:g}s; "
                f"it holds: {'; '.join(seen)}"
            )
        time.sleep(0.5)


def query_value(url: str, name: str) -> str | None:
    """A query parameter of a URL (the token of a link), None when absent."""
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get(name)
    return values[0] if values else None

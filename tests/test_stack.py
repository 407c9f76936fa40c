"""Compose tier, stack runs: each stack variant's compose stack really runs.

The native stack test (marker `variant`) renders the variant with its own slug, installs its
runtime dependencies once, as the image does, runs the stack's own processes on this machine
(harness/native_stack.py) and smoke-tests them over HTTP (harness/smoke.py): readiness, then
what the answers include (signup and login, the welcome email found in the stack's MailDev,
run here on this machine's Node.js, and its link followed, the items domain, a task the API
queues and the worker completes, beat). With auth=oidc the project's own test identity provider
(tests/identity_provider.py, run with the project's runtime dependencies) serves keys on
127.0.0.1, the stack's .env points OIDC_ISSUER at it, and the smoke test calls the API with a
token it signed. Where a Docker engine answers, the same smoke test runs against `docker
compose up --build --wait`; where none does (as on the template's own machines, CI included)
that test skips. The static checks of the same files are in test_compose.py.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.availability import require_service, unavailable
from harness.compose import API_PORT, docker_override, load_compose
from harness.deployment import (
    STACK_SLUGS,
    admit_api_key,
    identity_provider,
    install_runtime,
    package_manager,
    render_for_stack,
)
from harness.files import parse_env_file
from harness.interpreters import python_for
from harness.machine import HOST, redis_slot
from harness.mail_catcher import WEB_PORT, MailCatcherError, mail_catcher_service
from harness.matrix import stack_variants
from harness.native_stack import NativeStack, StackError
from harness.processes import clean_env, run
from harness.provisioning import Provisioner
from harness.smoke import smoke_test


class Timings:
    """How long each step of a stack run took."""

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
        redis_offset = cleanup.enter_context(redis_slot())
        try:
            native = NativeStack(
                project,
                project / ".venv",
                tmp_path / "stack",
                redis_db_offset=redis_offset,
                amqp_vhost=STACK_SLUGS[variant],
                base_path=env["PATH"],
            )
        except MailCatcherError as error:
            unavailable(f"{variant}: {error}")
        for machine in native.machine_services.values():
            require_service(machine.name, HOST, machine.port)
        provision = Provisioner(run)
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
            except StackError as error:
                problem = str(error)
            if problem:
                pytest.fail(f"{variant}: {problem}", pytrace=False)
        api_env = native.processes["api"].env
        superuser = None
        if "FIRST_SUPERUSER_EMAIL" in api_env and "FIRST_SUPERUSER_PASSWORD" in api_env:
            superuser = (api_env["FIRST_SUPERUSER_EMAIL"], api_env["FIRST_SUPERUSER_PASSWORD"])
        base_url = f"http://{HOST}:{native.port('api', API_PORT)}"
        mail_url = None
        if native.mail_catchers:
            mail_url = f"http://{HOST}:{native.port(native.mail_catchers[0], WEB_PORT)}"
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
                mail_url=mail_url,
            )
            if "beat" in native.built:
                assert "beat: Starting" in native.logs("beat"), native.describe("beat", "")
                checked.append("beat started, its schedule file fresh")
        stopped = [n for n in native.started if n not in native.one_shot and not native.running(n)]
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
    services = load_compose(project).get("services") or {}
    override, host_ports = docker_override(services)
    (tmp_path / "compose.override.yaml").write_text(override)
    compose = ["docker", "compose", "-f", "compose.yaml", "-f", tmp_path / "compose.override.yaml"]
    compose += ["-p", STACK_SLUGS[variant]]
    try:
        up = [*compose, "up", "--build", "--detach", "--wait", "--wait-timeout", "300"]
        run(up, cwd=project, env=env, timeout=1200, step="docker compose up")
        superuser = None
        variables = parse_env_file(project / ".env")
        if variables.get("FIRST_SUPERUSER_EMAIL") and variables.get("FIRST_SUPERUSER_PASSWORD"):
            superuser = (variables["FIRST_SUPERUSER_EMAIL"], variables["FIRST_SUPERUSER_PASSWORD"])

        def worker_log() -> str:
            logs = run([*compose, "logs", "--no-color", "worker"], cwd=project, env=env)
            return logs.stdout

        def service_exec(service: str, args: list[str]) -> str:
            return run([*compose, "exec", "-T", service, *args], cwd=project, env=env).stdout

        base_url = f"http://{HOST}:{host_ports['api']}"
        mail = mail_catcher_service(services)
        mail_url = f"http://{HOST}:{host_ports[mail]}" if mail else None
        smoke_test(
            base_url,
            answers,
            superuser,
            worker_log,
            service_exec,
            api_key=api_key,
            mail_url=mail_url,
        )
    finally:
        down = [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "20"]
        run(down, cwd=project, env=env, timeout=300, step="docker compose down", check=False)

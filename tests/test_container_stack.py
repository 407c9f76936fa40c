"""Compose tier in containers: the flagship stacks come up for real, in podman.

For the flagships (`default`, `minimal`, `largest`) and the fewest more variants that add a
database, broker or observability value not yet run, the test renders the variant, builds its
image from the generated Dockerfile with podman (buildah; Docker format, so the HEALTHCHECK is
kept), brings the stack up from the generated compose.yaml with podman-compose and health waits
(tests/harness/containers.py says why the harness runs the waits), runs the same smoke test as the
native run (harness/smoke.py: signup, login, item CRUD, a task through the worker and its
effect; with accounts, the welcome email read back from the stack's MailDev and its link
followed), then takes the stack down with its volumes.

Images the files name are used when present or when a registry serves them; otherwise stand-ins
are built from Debian packages under the same names, once per machine (tests/images/). Ports:
an override publishes the api and MailDev's web API alone, each on a free loopback port, so
stacks and this machine's own servers do not collide.

Without a working engine the test skips with the reason in one line; with CI=true that is a
failure. The native run (test_compose.test_native_stack) stays for the rest of the matrix.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import containers
from harness.availability import unavailable
from harness.compose import docker_override, load_compose
from harness.deployment import STACK_SLUGS, admit_api_key, package_manager, render_for_stack
from harness.files import parse_env_file
from harness.interpreters import python_for
from harness.machine import HOST
from harness.mail_catcher import mail_catcher_service
from harness.matrix import covering_variants, to_row
from harness.processes import clean_env
from harness.rendering import VARIANTS, variant_params
from harness.smoke import smoke_test

# The answers whose every value some stack in containers must hold (a multiselect question
# counts by its options: observability=sentry, say).
CONTAINER_QUESTIONS = ("database", "broker", "observability")


def container_variants() -> list[str]:
    return covering_variants(CONTAINER_QUESTIONS)


def test_container_variants_cover_every_database_broker_and_observability_value() -> None:
    chosen = container_variants()
    assert chosen[:3] == ["default", "minimal", "largest"]
    held = {(q, to_row(VARIANTS[n]).get(q)) for n in chosen for q in ("database", "broker")}
    for question in ("database", "broker"):
        offered = {to_row(answers).get(question) for answers in VARIANTS.values()}
        assert offered <= {value for q, value in held if q == question}, question
    observed = {key for name in chosen for key, on in to_row(VARIANTS[name]).items() if on is True}
    assert {k for k in to_row(VARIANTS["largest"]) if k.startswith("observability=")} <= observed


@pytest.mark.parametrize("variant", variant_params())
def test_dockerfile_builds_alike_with_buildkit_and_buildah(
    variant: str, render_variant: Callable[[str], Any]
) -> None:
    """buildah refuses a relative mount target, and leaves the content of a bind mount out of
    its layer cache (an image built after another project's reused that one's dependencies):
    files the build depends on are copied; mounts are caches or secrets, at absolute paths."""
    dockerfile = (Path(render_variant(variant).project_dir) / "Dockerfile").read_text()
    problems = []
    for options in re.findall(r"--mount=(\S+)", dockerfile):
        option = {
            key: value for key, _, value in (part.partition("=") for part in options.split(","))
        }
        if option.get("type", "bind") == "bind":
            problems.append(f"a bind mount ({options}): its content is not in buildah's cache key")
        if not (option.get("target") or option.get("dst") or "/").startswith("/"):
            problems.append(f"a relative mount target ({options}): buildah refuses it")
    assert not problems, "\n".join(problems)


def require_engine() -> None:
    if problem := containers.engine_problem():
        unavailable(f"podman cannot run containers here: {problem}")


@pytest.mark.variant
@pytest.mark.parametrize("variant", container_variants())
def test_container_stack(
    variant: str,
    copie: Any,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    poetry_bin: Callable[[str], Path],
) -> None:
    require_engine()
    project, answers = render_for_stack(variant, copie)
    api_key = admit_api_key(project, answers)
    python = python_for(str(answers["python_version"]))
    env = clean_env(UV_PYTHON=python, UV_NO_PROGRESS="1", NO_COLOR="1")
    package_manager(project, answers, python, env, poetry_bin)("lock")  # the image needs it
    services = load_compose(project).get("services") or {}

    started = time.monotonic()
    try:
        containers.podman_compose()
        built = containers.ensure_images(containers.images_of(project / "Dockerfile", services))
    except containers.ImageError as error:
        pytest.fail(f"{variant}: {error}", pytrace=False)
    images_seconds = time.monotonic() - started
    image = str(services["api"]["image"])
    build_started = time.monotonic()
    done = containers.podman(
        "build",
        "--format",
        "docker",
        "--tag",
        image,
        str(project),
        timeout=containers.BUILD_TIMEOUT,
    )
    project_build = time.monotonic() - build_started
    assert done.returncode == 0, "podman build failed:\n" + "\n".join(
        (done.stdout + done.stderr).strip().splitlines()[-30:]
    )
    healthcheck = containers.podman(
        "image", "inspect", "--format", "{{.Config.Healthcheck}}", image
    )
    assert "health/live" in healthcheck.stdout, "the built image lost its HEALTHCHECK"

    override, host_ports = docker_override(services)
    (tmp_path / "compose.override.yaml").write_text(override)
    name = f"{STACK_SLUGS[variant]}-podman"
    compose = containers.ComposeStack(
        project, [project / "compose.yaml", tmp_path / "compose.override.yaml"], name
    )
    try:
        try:
            ready = compose.up(services)
        except AssertionError as error:
            pytest.fail(f"{variant}: {error}", pytrace=False)
        healthy_after = time.monotonic() - build_started

        superuser = None
        variables = parse_env_file(project / ".env")
        if variables.get("FIRST_SUPERUSER_EMAIL") and variables.get("FIRST_SUPERUSER_PASSWORD"):
            superuser = (variables["FIRST_SUPERUSER_EMAIL"], variables["FIRST_SUPERUSER_PASSWORD"])

        def service_exec(service: str, args: list[str]) -> str:
            done = compose.exec(service, args)
            assert done.returncode == 0, compose.describe(service, done.stdout + done.stderr)
            return done.stdout

        smoke_started = time.monotonic()
        mail = mail_catcher_service(services)
        checked = smoke_test(
            f"http://{HOST}:{host_ports['api']}",
            answers,
            superuser,
            lambda: compose.logs("worker"),
            service_exec,
            api_key=api_key,
            mail_url=f"http://{HOST}:{host_ports[mail]}" if mail else None,
        )
        smoke = time.monotonic() - smoke_started
    finally:
        down_started = time.monotonic()
        compose.down()
        down = time.monotonic() - down_started
    assert not compose.containers(), f"containers left after down: {compose.containers()}"
    assert not compose.volumes(), f"volumes left after down: {compose.volumes()}"

    waits = ", ".join(f"{service} {seconds:.0f}s" for service, seconds in ready.items())
    pulled = ", ".join(f"{image} {seconds:.0f}s" for image, seconds in built.items()) or "none"
    summary = (
        f"{variant}: compose tier (podman) build→healthy {healthy_after:.0f}s (project image "
        f"{project_build:.0f}s; up {healthy_after - project_build:.0f}s: {waits}), smoke "
        f"{smoke:.0f}s, down {down:.0f}s, build→down {down_started + down - build_started:.0f}s; "
        f"images built or pulled first: {pulled} ({images_seconds:.0f}s); "
        f"checked: {'; '.join(checked)}"
    )
    request.node.user_properties.append(("compose_tier_podman", summary))
    print(summary)

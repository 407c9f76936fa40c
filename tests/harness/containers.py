"""A container engine for the compose tier: podman set up for this machine, and stand-in images.

The engine. Podman runs containers here through runc behind a small wrapper that removes
`process.rlimits` from the OCI configuration before handing over: the sandbox lacks
CAP_SYS_RESOURCE, so runc's setrlimit fails even for the current values (crun refuses the
machine's hybrid cgroups outright). A containers.conf selects cgroupfs (no systemd) and the
wrapper; both are written to ENGINE_DIR, and only the podman commands run here read them
(CONTAINERS_CONF in their environment). `engine_problem()` says in one line why the engine
cannot run, or None.

The images. Where no image registry answers, `ensure_image` builds a stand-in from Debian
packages under the official name the generated Dockerfile or compose.yaml uses (recipes and
what each honours: tests/images/README.md). The Debian base is made with debootstrap, this
machine's extra CA certificates added (the package registries are reached through a proxy
that signs with them). Each image is built once per machine: one that exists is kept (a
stand-in is rebuilt only when its recipe changed), and a registry that serves the real image
is used instead. Builds hold a lock, so parallel test workers build each image once.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .compose import depends_on, healthcheck_command, one_shot_services, start_order
from .interpreters import find_python
from .machine import exclusive_lock

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"
ENGINE_DIR = Path(os.environ.get("TEMPLATE_CONTAINERS_DIR", "/var/tmp/fastapi-template-podman"))
STAND_IN_LABEL = "org.fastapi-template.stand-in"
BASE_IMAGE = "localhost/template-stand-in/debian:bookworm"
DEBIAN_SUITE = "bookworm"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
BUILD_TIMEOUT = 1200

RUNTIME_WRAPPER = """\
#!/bin/sh
# runc without OCI rlimits: this machine's sandbox lacks CAP_SYS_RESOURCE, so runc's
# setrlimit fails even for the current limits. Written by the template's
# tests/harness/containers.py.
bundle='' process='' previous=''
for argument do
    case $previous in --bundle | -b) bundle=$argument ;; --process | -p) process=$argument ;; esac
    case $argument in
    --bundle=*) bundle=${argument#--bundle=} ;;
    --process=*) process=${argument#--process=} ;;
    esac
    previous=$argument
done
strip() { [ -f "$1" ] && jq -c "$2" "$1" >"$1.norlimits" && mv "$1.norlimits" "$1"; }
if [ -n "$bundle" ]; then strip "$bundle/config.json" 'del(.process.rlimits)'; fi
if [ -n "$process" ]; then strip "$process" 'del(.rlimits)'; fi
exec RUNC "$@"
"""

CONTAINERS_CONF = """\
# Podman for the template's compose tier (tests/harness/containers.py): no systemd, runc
# without rlimits.
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"

[engine.runtimes]
runc = ["{wrapper}"]
"""

PODMAN_COMPOSE = "podman-compose==1.6.0"
REQUIRED_COMMANDS = ("podman", "runc", "jq", "debootstrap")


class ImageError(RuntimeError):
    """An image could not be pulled or built; the message says which and why."""


# ---------------------------------------------------------------- the engine


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(text)
        partial.chmod(mode)
        partial.replace(path)


def engine_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment podman commands run with here (`base`: os.environ by default)."""
    return {
        **(os.environ if base is None else base),
        "CONTAINERS_CONF": str(ENGINE_DIR / "containers.conf"),
    }


def podman(
    *args: str, timeout: float = 120, check: bool = False, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `podman args...` with this machine's engine configuration; output captured."""
    done = subprocess.run(
        ["podman", *args],
        env=engine_env(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise ImageError(f"`podman {' '.join(args)}` failed: {_last_line(done)}")
    return done


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {done.returncode}"


@functools.cache
def engine_problem() -> str | None:
    """None when podman runs containers here; otherwise one line saying why not.

    Idempotent: writes the runtime wrapper and containers.conf under ENGINE_DIR when they
    differ from what this module would write, then asks podman for its runtime.
    """
    missing = [name for name in REQUIRED_COMMANDS if shutil.which(name) is None]
    if missing:
        return (
            f"{', '.join(missing)} not installed (apt-get install podman runc jq debootstrap; "
            ".ci/run does)"
        )
    runc = shutil.which("runc")
    wrapper = ENGINE_DIR / "runc-without-rlimits"
    try:
        _write_if_changed(wrapper, RUNTIME_WRAPPER.replace("RUNC", str(runc)), mode=0o755)
        _write_if_changed(ENGINE_DIR / "containers.conf", CONTAINERS_CONF.format(wrapper=wrapper))
    except OSError as error:
        return f"cannot write the engine configuration under {ENGINE_DIR}: {error}"
    try:
        info = podman("info", "--format", "{{.Host.OCIRuntime.Path}}", timeout=60)
    except subprocess.TimeoutExpired:
        return "`podman info` did not answer within 60s"
    if info.returncode != 0:
        return f"`podman info` failed: {_last_line(info)}"
    if info.stdout.strip() != str(wrapper):
        return f"podman runs {info.stdout.strip()!r}, not the wrapper {wrapper} (CONTAINERS_CONF)"
    return None


@functools.cache
def podman_compose() -> Path:
    """podman-compose (PyPI) in its own environment under ENGINE_DIR, installed once.

    Not a dev dependency of the template repository: it is a tool of this engine set-up only,
    like podman itself, and is pinned here. The environment is made from the interpreter the
    template's own environment was made from (not from that environment, which a fresh clone
    replaces), and made again when it no longer runs.
    """
    venv = ENGINE_DIR / "podman-compose"
    executable = venv / "bin" / "podman-compose"

    def works() -> bool:
        try:
            version = subprocess.run(
                [str(executable), "--version"], capture_output=True, text=True, timeout=60
            )
        except OSError:
            return False
        return version.returncode == 0 and PODMAN_COMPOSE.split("==")[1] in version.stdout

    if works():
        return executable
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    python = str(Path(sys.base_prefix) / "bin" / "python3")
    with exclusive_lock(ENGINE_DIR / "images.lock"):
        if works():
            return executable
        shutil.rmtree(venv, ignore_errors=True)
        for command in (
            ["uv", "venv", "--quiet", "--python", python, str(venv)],
            [
                "uv",
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                PODMAN_COMPOSE,
            ],
        ):
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, timeout=300, check=False
            )
            if done.returncode != 0:
                raise ImageError(f"cannot install {PODMAN_COMPOSE}: {_last_line(done)}")
    return executable


# ---------------------------------------------------------------- images


def qualified(image: str) -> str:
    """The full name of an image reference as Docker reads it (`redis:7` is docker.io's)."""
    first = image.split("/")[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{image}"
    return image


def _label(image: str) -> str | None:
    """The stand-in label of a local image; "" for an image without one; None if absent."""
    done = podman(
        "image", "inspect", "--format", f'{{{{index .Labels "{STAND_IN_LABEL}"}}}}', image
    )
    if done.returncode != 0:
        return None
    value = done.stdout.strip()
    return "" if value in {"", "<no value>"} else value


_UNREACHABLE_REGISTRIES: set[str] = set()


def _pull(image: str) -> bool:
    """Pull the real image; a registry that failed once is not asked again in this run."""
    registry = image.split("/")[0]
    if registry in _UNREACHABLE_REGISTRIES:
        return False
    try:
        pulled = podman("pull", "--quiet", image, timeout=300).returncode == 0
    except subprocess.TimeoutExpired:
        pulled = False
    if not pulled:
        _UNREACHABLE_REGISTRIES.add(registry)
    return pulled


def ensure_images(images: Sequence[str]) -> dict[str, float]:
    """Make every image present: seconds spent per image pulled or built (none when all were)."""
    spent: dict[str, float] = {}
    for image in dict.fromkeys(images):
        started = time.monotonic()
        if ensure_image(image):
            spent[image] = time.monotonic() - started
    return spent


def ensure_image(image: str) -> bool:
    """Make `image` present; True when it had to be pulled or built."""
    name = qualified(image)
    recipe = stand_in_recipe(name)
    with exclusive_lock(ENGINE_DIR / "images.lock"):
        label = _label(name)
        if label is not None and (label == "" or recipe is None or label == recipe.digest):
            return False  # the real image, or a stand-in of the current recipe
        if label is None and _pull(name):
            return True
        if recipe is None:
            raise ImageError(f"{image}: no registry serves it, and there is no stand-in recipe")
        recipe.build(name)
        return True


class Recipe:
    """How to build a stand-in: a folder of tests/images/ and its build arguments."""

    def __init__(self, folder: str, build_args: Mapping[str, str] | None = None) -> None:
        self.folder = IMAGES_DIR / folder
        self.build_args = dict(build_args or {})

    @property
    def digest(self) -> str:
        hashed = hashlib.sha256()
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                hashed.update(path.name.encode() + path.read_bytes())
        hashed.update(repr(sorted(self.build_args.items())).encode())
        hashed.update(_base_digest().encode())
        return hashed.hexdigest()[:16]

    def build(self, name: str) -> None:
        ensure_base_image()
        args = [
            "build",
            "--format",
            "docker",
            "--tag",
            name,
            "--label",
            f"{STAND_IN_LABEL}={self.digest}",
        ]
        for key, value in self.build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        args += self.extra_build_options()
        done = podman(*args, str(self.folder), timeout=BUILD_TIMEOUT)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
            raise ImageError(f"building the stand-in {name} failed:\n{tail}")

    def extra_build_options(self) -> list[str]:
        return []


class PythonRecipe(Recipe):
    """python:X.Y-slim-bookworm: this machine's interpreter, mounted into the build."""

    def __init__(self, prefix: str, version: str) -> None:
        super().__init__("python", {"PYTHON_PREFIX": prefix, "PYTHON_VERSION": version})

    def extra_build_options(self) -> list[str]:
        return ["--volume", f"{self.build_args['PYTHON_PREFIX']}:/mnt/python:ro"]


class UvRecipe(Recipe):
    """ghcr.io/astral-sh/uv:X.Y: the `uv` and `uvx` binaries of that release, from PyPI."""

    def __init__(self, tag: str) -> None:
        super().__init__("uv", {"UV": f"uv=={tag}.*" if tag.count(".") == 1 else f"uv=={tag}"})

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.build_args["UV"].encode()).hexdigest()[:16]

    def build(self, name: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "site"
            done = subprocess.run(
                [
                    "uv",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--target",
                    str(target),
                    self.build_args["UV"],
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
            )
            binaries = [target / "bin" / "uv", target / "bin" / "uvx"]
            if done.returncode != 0 or not all(path.is_file() for path in binaries):
                raise ImageError(
                    f"cannot get {self.build_args['UV']} from the package index: {_last_line(done)}"
                )
            root = Path(scratch) / "root"
            root.mkdir()
            for path in binaries:
                shutil.copy2(path, root / path.name)
            archive = Path(scratch) / "uv.tar"
            subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "uv", "uvx"], check=True)
            podman(
                "import",
                "--change",
                f"LABEL {STAND_IN_LABEL}={self.digest}",
                "--change",
                'ENTRYPOINT ["/uv"]',
                str(archive),
                name,
                timeout=300,
                check=True,
            )


def stand_in_recipe(name: str) -> Recipe | None:
    """The recipe of the stand-in for a fully qualified image name, None when there is none."""
    repository, _, tag = name.rpartition(":")
    if repository == "ghcr.io/astral-sh/uv":
        return UvRecipe(tag)
    if repository == "docker.io/maildev/maildev":
        return Recipe("maildev", {"MAILDEV_VERSION": tag})
    if not repository.startswith("docker.io/library/"):
        return None
    short = repository.removeprefix("docker.io/library/")
    if short == "python" and (match := re.fullmatch(r"(3\.\d+)(?:\.\d+)?-slim(?:-bookworm)?", tag)):
        prefix, version = _interpreter_prefix(match[1])
        return PythonRecipe(prefix, version)
    if short in {"postgres", "mariadb", "redis", "rabbitmq"}:
        return Recipe(short)
    return None


@functools.cache
def _interpreter_prefix(version: str) -> tuple[str, str]:
    """(sys.base_prefix, full version) of this machine's interpreter for `version`."""
    python = find_python(version)
    if python is None:
        raise ImageError(f"no Python {version} on this machine to build python:{version} from")
    code = "import platform, sys; print(sys.base_prefix); print(platform.python_version())"
    prefix, full = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    return prefix, full


# ---------------------------------------------------------------- the Debian base


# The base image's configuration (podman import --change), one instruction each.
BASE_IMAGE_CONFIG = (
    f"ENV SSL_CERT_FILE={CA_BUNDLE}",
    f"ENV REQUESTS_CA_BUNDLE={CA_BUNDLE}",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["bash"]',
)


def _base_digest() -> str:
    hashed = hashlib.sha256(repr((DEBIAN_SUITE, BASE_IMAGE_CONFIG)).encode())
    for path in sorted(LOCAL_CA_DIR.glob("*.crt")):
        hashed.update(path.read_bytes())
    return hashed.hexdigest()[:16]


def ensure_base_image() -> bool:
    """Build the Debian base of the stand-ins unless it exists; True when built."""
    if _label(BASE_IMAGE) == _base_digest():
        return False
    with tempfile.TemporaryDirectory(dir=ENGINE_DIR) as scratch:
        root = Path(scratch) / "root"
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                DEBIAN_SUITE,
                str(root),
            ],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise ImageError(f"debootstrap {DEBIAN_SUITE} failed: {_last_line(done)}")
        # Services are never started by package installs in an image (as in Debian's images).
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        certificates = root / LOCAL_CA_DIR.relative_to("/")
        for path in LOCAL_CA_DIR.glob("*.crt"):
            shutil.copy2(path, certificates / path.name)
        subprocess.run(
            ["chroot", str(root), "update-ca-certificates"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
        (root / "var/cache/apt/archives/partial").mkdir(parents=True)
        changes = [f"LABEL {STAND_IN_LABEL}={_base_digest()}", *BASE_IMAGE_CONFIG]
        # Leaving the block closes our end of the pipe and waits for tar.
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            imported = subprocess.run(
                [
                    "podman",
                    "import",
                    *(f"--change={change}" for change in changes),
                    "-",
                    BASE_IMAGE,
                ],
                stdin=tar.stdout,
                env=engine_env(),
                capture_output=True,
                text=True,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
        if imported.returncode != 0:
            raise ImageError(f"importing the Debian base failed: {_last_line(imported)}")
    return True


# ---------------------------------------------------------------- a stack in containers


def images_of(dockerfile: Path, services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The images a stack needs from elsewhere: the Dockerfile's FROM and COPY --from images
    (its own stage names aside), and the image of every service that is not built."""
    text = dockerfile.read_text()
    stages = set(re.findall(r"(?im)^FROM\s+\S+\s+AS\s+(\S+)", text))
    found = re.findall(r"(?im)^FROM\s+(\S+)", text) + re.findall(r"--from=(\S+)", text)
    found += [str(s["image"]) for s in services.values() if "build" not in s and s.get("image")]
    return [image for image in dict.fromkeys(found) if image not in stages]


class ComposeStack:
    """A compose project run by podman-compose, with the health waits podman 4.3 lacks.

    podman-compose creates the network, volumes and containers from the files (`up
    --no-start --no-deps`: without podman's own container dependencies, which would start a
    service's dependencies again, the finished one-shot ones included). It would start them all
    at once: before podman 4.6 it ignores `service_healthy`
    conditions and `--wait`, and without systemd nothing runs podman's health checks. So this
    starts each service after its dependencies meet their conditions, running the health checks
    itself (`podman healthcheck run`) as the engine's timers would.
    """

    def __init__(self, project: Path, files: Sequence[Path], name: str) -> None:
        self.project, self.name = project, name
        self.compose = [str(podman_compose()), "--project-name", name]
        for path in files:
            self.compose += ["--file", str(path)]

    def run_compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.compose, *args],
            cwd=self.project,
            env=engine_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self) -> dict[str, str]:
        """Service -> container name."""
        done = podman(
            "ps",
            "--all",
            "--filter",
            f"label=io.podman.compose.project={self.name}",
            "--format",
            '{{index .Labels "com.docker.compose.service"}} {{.Names}}',
        )
        return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)

    def state(self, service: str) -> tuple[str, int]:
        done = podman(
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            self.containers()[service],
        )
        status, _, code = done.stdout.strip().partition(" ")
        return status, int(code or 0)

    def healthy(self, service: str) -> bool:
        return podman("healthcheck", "run", self.containers()[service], timeout=60).returncode == 0

    def logs(self, service: str) -> str:
        done = podman("logs", self.containers()[service], timeout=60)
        return done.stdout + done.stderr

    def exec(self, service: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.containers()[service], *args, timeout=120)

    def describe(self, service: str, problem: str) -> str:
        tail = "\n".join(self.logs(service).splitlines()[-40:])
        return f"{service}: {problem}\n--- {service} log (last 40 lines) ---\n{tail}"

    def up(
        self, services: Mapping[str, Mapping[str, Any]], timeout: float = 300
    ) -> dict[str, float]:
        """Create and start every service in dependency order, then wait until each one that
        runs until stopped is healthy; returns seconds from the start to each service's health
        (or completion). Raises AssertionError saying which service did not get there."""
        created = self.run_compose("up", "--no-start", "--no-build", "--no-deps")
        if created.returncode != 0:
            tail = "\n".join((created.stdout + created.stderr).strip().splitlines()[-30:])
            raise AssertionError(f"podman-compose up --no-start failed:\n{tail}")
        started, deadline = time.monotonic(), time.monotonic() + timeout
        ready: dict[str, float] = {}
        one_shot = one_shot_services(services)

        def reach(service: str, condition: str) -> None:
            if service in ready:
                return
            while True:
                status, code = self.state(service)
                if condition == "service_completed_successfully" and status == "exited":
                    if code != 0:
                        raise AssertionError(self.describe(service, f"exited with code {code}"))
                    break
                if condition == "service_healthy" and status == "running" and self.healthy(service):
                    break
                if condition == "service_started" and status == "running":
                    break
                if status == "exited" and condition != "service_completed_successfully":
                    raise AssertionError(self.describe(service, f"exited with code {code}"))
                if time.monotonic() > deadline:
                    raise AssertionError(
                        self.describe(service, f"not {condition} within {timeout:g}s ({status})")
                    )
                time.sleep(1)
            ready[service] = time.monotonic() - started

        for name in start_order(services):
            for dependency, condition in depends_on(services[name]).items():
                reach(dependency, condition)
            done = podman("start", self.containers()[name], timeout=120)
            if done.returncode != 0:
                raise AssertionError(f"podman start {name}: {_last_line(done)}")
        for name, service in services.items():
            if name in one_shot:
                reach(name, "service_completed_successfully")
            elif healthcheck_command(service.get("healthcheck")) or "build" in service:
                reach(name, "service_healthy")
            else:
                reach(name, "service_started")
        return ready

    def down(self) -> None:
        """`down --volumes`, then the anonymous volumes too (the images' VOLUMEs), which
        podman-compose leaves behind and Docker Compose removes."""
        mounted = [
            name
            for container in self.containers().values()
            for name in podman(
                "inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}", container
            ).stdout.split()
        ]
        done = self.run_compose("down", "--volumes", "--timeout", "20", timeout=300)
        if done.returncode != 0:
            raise AssertionError(f"podman-compose down failed: {_last_line(done)}")
        for name in mounted:
            podman("volume", "rm", "--force", name)

    def volumes(self) -> list[str]:
        """The project's named volumes still present."""
        done = podman(
            "volume", "ls", "--quiet", "--filter", f"label=io.podman.compose.project={self.name}"
        )
        return done.stdout.split()

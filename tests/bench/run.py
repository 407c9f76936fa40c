"""Render, install, migrate, seed and start a generated service as production does, then load it
with wrk and write the results as JSON and Markdown.

    uv run python -m tests.bench --help

Needs wrk (Debian package `wrk`), the database servers of the benchmarked variants and Redis on
127.0.0.1. It owns the databases `tplbench_<variant>` and Redis database 12, and starts its
servers on free ports of 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from harness.dockerfile import parse_dockerfile
from harness.files import parse_env_file
from harness.interpreters import find_python
from harness.machine import HOST, free_port
from harness.matrix import questions
from harness.processes import clean_env, run
from harness.provisioning import Provisioner
from harness.template import TEMPLATE_ROOT

from . import reference as reference_backend
from .report import (
    BARE_FASTAPI,
    FLOOR,
    REFERENCE_PREFIX,
    Measurement,
    StallTest,
    WrkResult,
    markdown,
    parse_wrk_output,
)

BENCH_DIR = Path(__file__).resolve().parent
REQUEST_SCRIPT = BENCH_DIR / "request.lua"
LAYERS_SCRIPT = BENCH_DIR / "layers.py"
MIDDLEWARE_SCRIPT = BENCH_DIR / "middleware_share.py"
INSTRUCTIONS_SCRIPT = BENCH_DIR / "instructions.py"
POOL_WAIT_SCRIPT = BENCH_DIR / "pool_wait.py"

# Variant name -> answers on top of copier's defaults. A variant whose answers copier.yml does
# not offer yet is reported and skipped, so one can be listed before the template has it.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "mysql": {"database": "mysql"},
    "sqlmodel": {"orm": "sqlmodel"},
}
REDIS_DATABASE = 12
# Requests counted per scenario under callgrind (instructions.py): the count per request is
# the same to a few hundred instructions from 100 on.
COUNTED_REQUESTS = 200
# wrk leaves slower responses out of its percentiles and counts them as timeouts. Long enough
# for logins, which queue behind one Argon2 hash at a time.
TIMEOUT_SECONDS = 30
USER_EMAIL = "bench@example.com"
USER_PASSWORD = "bench-password-1234"
ITEM_BODY = json.dumps({"title": "Benchmark item", "description": "Written by the benchmark."})


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    """May name `{item_id}`, the seeded item every read asks for."""
    status: int
    body: str | None = None
    content_type: str | None = None
    authenticated: bool = False


SCENARIOS = (
    Scenario("health", "GET", "/health/live", 200),
    Scenario("read_item", "GET", "/api/v1/items/{item_id}", 200, authenticated=True),
    Scenario("list_items", "GET", "/api/v1/items?limit=20", 200, authenticated=True),
    Scenario(
        "create_item",
        "POST",
        "/api/v1/items",
        201,
        body=ITEM_BODY,
        content_type="application/json",
        authenticated=True,
    ),
    Scenario(
        "login",
        "POST",
        "/api/v1/auth/login",
        200,
        body=urllib.parse.urlencode({"username": USER_EMAIL, "password": USER_PASSWORD}),
        content_type="application/x-www-form-urlencoded",
    ),
)
SCENARIO_NAMES = {scenario.name: scenario for scenario in SCENARIOS}
LOGIN = SCENARIO_NAMES["login"]
HEALTH = SCENARIO_NAMES["health"]
# The same request to bare_app.py, the framework without the template's code.
BARE_FASTAPI_HEALTH = Scenario(BARE_FASTAPI, HEALTH.method, HEALTH.path, HEALTH.status)
READ_ITEM = SCENARIO_NAMES["read_item"]
# The same read from floor_app.py: the token check and one asyncpg query, nothing else.
FLOOR_READ_ITEM = Scenario(
    FLOOR, READ_ITEM.method, READ_ITEM.path, READ_ITEM.status, authenticated=True
)
# What instructions.py can count in-process.
INSTRUCTION_SCENARIOS = ("health", "read_item", "list_items")
# The database read path, run back to back against one server process.
STALL = READ_ITEM
STALL_RUNS = 5


class BenchError(RuntimeError):
    """A step failed; the message says which and shows the tail of its output."""


def not_offered(answers: Mapping[str, Any]) -> list[str]:
    """The answers copier.yml has no choice for."""
    missing = []
    for name, value in answers.items():
        choices = questions()[name].get("choices")
        values = choices.values() if isinstance(choices, dict) else choices
        if values is not None and value not in values:
            missing.append(f"{name}={value}")
    return missing


# ---------------------------------------------------------------- the project


@dataclass
class Project:
    variant: str
    path: Path
    answers: dict[str, Any]
    env: dict[str, str]
    """The environment of every process of the service: what production sets, no .env file."""

    @property
    def database_kind(self) -> str:
        return str(self.answers["database"])

    @property
    def database_name(self) -> str:
        return urllib.parse.urlsplit(self.env["DATABASE_URL"]).path.lstrip("/")


def render(variant: str, answers: Mapping[str, Any], destination: Path) -> Project:
    from copier import run_copy

    slug = f"tplbench-{variant}"
    print(f"rendering {variant} ({answers or 'default answers'}) into {destination}", flush=True)
    run_copy(
        str(TEMPLATE_ROOT),
        destination,
        data={**answers, "project_slug": slug},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
    )
    # Production has no .env (the image leaves it out): every setting comes from the environment.
    (destination / ".env").unlink()
    example = parse_env_file(destination / ".env.example")
    redis_url = f"redis://{HOST}:6379/{REDIS_DATABASE}"
    env = clean_env(
        ENVIRONMENT="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_JSON="true",
        DATABASE_URL=example["DATABASE_URL"].replace("@localhost:", f"@{HOST}:"),
        REDIS_URL=redis_url,
        # Set rather than left to their defaults: floor_app.py checks tokens as the service does.
        JWT_ISSUER=slug,
        JWT_AUDIENCE=slug,
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        ACCESS_TOKEN_EXPIRE_MINUTES="120",
        # wrk sends 64 logins at once, for one account from one address, and the throttle lets
        # no more logins than its limits reach the password check at a time.
        LOGIN_FAILURES_PER_ACCOUNT="1000000",
        LOGIN_FAILURES_PER_ADDRESS="1000000",
    )
    env.pop("WEB_CONCURRENCY", None)
    answers = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    return Project(variant, destination, answers, env)


def install(project: Project) -> None:
    python = find_python(str(project.answers["python_version"]))
    if python is None:
        raise BenchError(f"no Python {project.answers['python_version']} interpreter found")
    env = {**project.env, "UV_PYTHON": python, "UV_NO_PROGRESS": "1"}
    # As the image installs it: no development dependencies.
    run(["uv", "sync", "--no-dev"], cwd=project.path, env=env, timeout=900, step="uv sync --no-dev")


def prepare_database(project: Project) -> None:
    """A fresh database at the newest migration, and an empty Redis database."""
    Provisioner(run=run).database(project.database_kind, project.database_name)
    alembic = project.path / ".venv" / "bin" / "alembic"
    run([alembic, "upgrade", "head"], cwd=project.path, env=project.env, step="migrate")
    redis_cli = shutil.which("redis-cli") or "redis-cli"
    run([redis_cli, "-n", str(REDIS_DATABASE), "flushdb"], cwd=project.path, step="redis flushdb")


# ---------------------------------------------------------------- the server


def server_command(
    project: Project,
    port: int,
    *,
    bench_app: str | None = None,
    reference: reference_backend.Reference | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The Dockerfile's CMD and ENV, on a port of 127.0.0.1 and with the project's virtualenv;
    with `bench_app` (such as "bare_app:app"), serving that module of tests/bench instead of
    the project's application; with `reference`, the official template's backend, from its
    own virtualenv and with its own settings."""
    image = parse_dockerfile(project.path / "Dockerfile")
    command = list(image.cmd)
    factory = command.index("--factory")  # followed by the application's factory
    if bench_app:
        command[factory : factory + 2] = ["--app-dir", str(BENCH_DIR), bench_app]
    elif reference:
        command[factory : factory + 2] = reference.app_arguments()
    for option, value in (("--host", HOST), ("--port", str(port))):
        if option in command:
            command[command.index(option) + 1] = value
    venv_bin = reference.venv_bin if reference else project.path / ".venv" / "bin"
    settings = reference.env if reference else project.env
    env = {key: value for key, value in image.env.items() if key != "PATH"}
    env = {**env, **settings, "PATH": os.pathsep.join([str(venv_bin), project.env["PATH"]])}
    return command, env


def production_workers(project: Project) -> int:
    """The worker count the image runs with: WEB_CONCURRENCY, uvicorn's default being 1."""
    return int(parse_dockerfile(project.path / "Dockerfile").env.get("WEB_CONCURRENCY", "1"))


def _process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(root: int) -> float:
    ticks = 0
    for pid in _process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime and stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until_idle(pid: int, *, timeout: float = 60) -> None:
    """Until the server uses under a tenth of a CPU: work one run left queued (requests wrk
    gave up on) must not be counted against the next."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        if _cpu_seconds(pid) - before < 0.05:
            return
    print(f"    (the server was still busy after {timeout:g} s)", flush=True)


class RssSampler:
    """Samples the summed resident memory of a process and its descendants, keeping the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            total = sum(_rss_kib(pid) for pid in _process_tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)

    def take_peak_mb(self) -> float:
        """The peak since the last call, in MB, and start over."""
        peak, self.peak_kib = self.peak_kib, 0
        return peak / 1024

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def server(
    project: Project,
    workers: int,
    log: Path,
    *,
    bench_app: str | None = None,
    reference: reference_backend.Reference | None = None,
) -> Iterator[tuple[str, int]]:
    """The service (or `bench_app`, or the reference), started with the image's command; yields
    its base URL and PID."""
    port = free_port()
    command, env = server_command(project, port, bench_app=bench_app, reference=reference)
    env["WEB_CONCURRENCY"] = str(workers)
    print(f"  starting WEB_CONCURRENCY={workers} {shlex.join(command)}", flush=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=project.path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://{HOST}:{port}"
    health = reference_backend.PATHS["health"][1] if reference else HEALTH.path
    try:
        deadline = time.monotonic() + 60
        while not _answers(base_url + health):
            if process.poll() is not None:
                raise BenchError(f"the server exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise BenchError(f"the server did not answer within 60 s; see {log}")
            time.sleep(0.2)
        yield base_url, process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def request(
    base_url: str,
    method: str,
    path: str,
    *,
    body: str | None = None,
    content_type: str | None = None,
    token: str | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type} if content_type else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body.encode() if body is not None else None
    call = urllib.request.Request(base_url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def seed(base_url: str, items: int) -> tuple[str, str]:
    """A user and `items` items of theirs, through the API; returns an access token and an id."""
    signup = json.dumps({"email": USER_EMAIL, "password": USER_PASSWORD})
    status, answer = request(
        base_url, "POST", "/api/v1/auth/signup", body=signup, content_type="application/json"
    )
    if status != 201:
        raise BenchError(f"signup answered {status}: {answer}")
    token = log_in(base_url, LOGIN.path, LOGIN.body)
    create = SCENARIO_NAMES["create_item"]
    return token, create_items(base_url, create.path, create.status, token, items)[0]


def log_in(base_url: str, path: str, form: str | None) -> str:
    status, answer = request(
        base_url, "POST", path, body=form, content_type="application/x-www-form-urlencoded"
    )
    if status != 200:
        raise BenchError(f"login answered {status}: {answer}")
    return str(answer["access_token"])


def create_items(base_url: str, path: str, expected: int, token: str, count: int) -> list[str]:
    """`count` items created through the API, eight at a time; their ids."""

    def create(_: int) -> str:
        status, answer = request(
            base_url, "POST", path, body=ITEM_BODY, content_type="application/json", token=token
        )
        if status != expected:
            raise BenchError(f"creating an item answered {status}: {answer}")
        return str(answer["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(create, range(count)))


# ---------------------------------------------------------------- load


def wrk(
    url: str,
    scenario: Scenario,
    *,
    token: str,
    duration: float,
    connections: int,
    threads: int,
) -> WrkResult:
    env = {**os.environ, "BENCH_METHOD": scenario.method}
    if scenario.body is not None:
        env["BENCH_BODY"] = scenario.body
    if scenario.content_type:
        env["BENCH_CONTENT_TYPE"] = scenario.content_type
    if scenario.authenticated:
        env["BENCH_TOKEN"] = token
    cmd = [
        shutil.which("wrk") or "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={duration:g}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        f"--script={REQUEST_SCRIPT}",
        url,
    ]
    result = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"wrk exited with {result.returncode}:\n{result.stderr[-2000:]}")
    return parse_wrk_output(result.stdout)


@dataclass
class Load:
    """How every scenario is run: wrk's settings and the server being measured."""

    project: Project
    workers: int
    base_url: str
    pid: int
    token: str
    item_id: str
    rss: RssSampler
    duration: float
    warmup: float
    connections: int
    threads: int

    @classmethod
    def of_run(
        cls,
        project: Project,
        server: tuple[str, int],
        rss: RssSampler,
        options: argparse.Namespace,
        *,
        workers: int = 1,
        token: str = "",
        item_id: str = "",
    ) -> Load:
        """A load on the server at `server` (base URL, PID), with wrk's settings from `options`."""
        base_url, pid = server
        return cls(
            project=project,
            workers=workers,
            base_url=base_url,
            pid=pid,
            token=token,
            item_id=item_id,
            rss=rss,
            duration=options.duration,
            warmup=options.warmup,
            connections=options.connections,
            threads=options.threads,
        )

    def check(self, scenario: Scenario) -> str:
        """The scenario's URL, after one request has answered with the expected status."""
        path = scenario.path.format(item_id=self.item_id)
        status, answer = request(
            self.base_url,
            scenario.method,
            path,
            body=scenario.body,
            content_type=scenario.content_type,
            token=self.token if scenario.authenticated else None,
        )
        if status != scenario.status:
            raise BenchError(
                f"{scenario.name}: {scenario.method} {path} answered {status}: {answer}"
            )
        return self.base_url + path

    def measure(self, scenario: Scenario, *, warmup: bool = True) -> Measurement:
        url = self.check(scenario)
        options = {"token": self.token, "connections": self.connections, "threads": self.threads}
        wait_until_idle(self.pid)
        if warmup and self.warmup:
            wrk(url, scenario, duration=self.warmup, **options)
            wait_until_idle(self.pid)
        load_average = os.getloadavg()
        self.rss.take_peak_mb()
        cpu_before = _cpu_seconds(self.pid)
        result = wrk(url, scenario, duration=self.duration, **options)
        server_cpu_seconds = _cpu_seconds(self.pid) - cpu_before
        measurement = Measurement(
            variant=self.project.variant,
            workers=self.workers,
            scenario=scenario.name,
            result=result,
            peak_rss_mb=self.rss.take_peak_mb(),
            load_average=(
                round(load_average[0], 2),
                round(load_average[1], 2),
                round(load_average[2], 2),
            ),
            server_cpu_seconds=server_cpu_seconds,
        )
        print(
            f"    {scenario.name:<12} {result.requests_per_second:>9,.0f} req/s  "
            f"p50 {result.latency_ms('p50'):6.1f} ms  p99 {result.latency_ms('p99'):6.1f} ms  "
            f"errors {result.error_count}  CPU {measurement.cpu_ms_per_request:.2f} ms/req  "
            f"peak RSS {measurement.peak_rss_mb:.0f} MB  load {load_average[0]:.2f}",
            flush=True,
        )
        return measurement


def bench_server(
    project: Project, workers: int, options: argparse.Namespace, log: Path
) -> tuple[list[Measurement], StallTest]:
    prepare_database(project)
    with server(project, workers, log) as (base_url, pid), RssSampler(pid) as rss:
        print(f"  seeding a user and {options.items} items", flush=True)
        token, item_id = seed(base_url, options.items)
        load = Load.of_run(
            project, (base_url, pid), rss, options, workers=workers, token=token, item_id=item_id
        )
        chosen = [scenario for scenario in SCENARIOS if scenario.name in options.scenarios]
        # Logins go last: the ones still queued when wrk stops keep the server hashing a while.
        measurements = [load.measure(scenario) for scenario in chosen if scenario is not LOGIN]
        stall = StallTest(project.variant, workers)
        if options.stall_runs:
            print(f"  stall test: {options.stall_runs} back-to-back {STALL.name} runs", flush=True)
            stall.runs = [load.measure(STALL, warmup=False) for _ in range(options.stall_runs)]
        if LOGIN in chosen:
            measurements.append(load.measure(LOGIN))
    if workers == 1 and READ_ITEM in chosen and project.database_kind == "postgresql":
        floor = bench_app(
            project, "floor_app:app", FLOOR_READ_ITEM, options, log, token=token, item_id=item_id
        )
        measurements.append(floor)
    return measurements, stall


def run_in_project(project: Project, script: Path, *arguments: str) -> Any:
    """Run one of the benchmark's scripts with the project's interpreter and settings; returns
    the JSON object it prints last."""
    python = project.path / ".venv" / "bin" / "python"
    env = {**project.env, "PYTHONPATH": str(project.path)}
    output = run([python, script, *arguments], cwd=project.path, env=env, step=script.name)
    return json.loads(output.stdout.splitlines()[-1])


def database_read_layers(project: Project) -> dict[str, float]:
    """layers.py's CPU cost of one read at each layer, in the project's seeded database."""
    print(f"{project.variant}: one database read, layer by layer", flush=True)
    costs: dict[str, float] = run_in_project(project, LAYERS_SCRIPT)
    print("  " + ", ".join(f"{layer} {cost:,.0f} us" for layer, cost in costs.items()), flush=True)
    return costs


def middleware_shares(project: Project, requests: int) -> dict[str, float]:
    """middleware_share.py: the CPU each middleware adds to a health request, and the rest."""
    print(f"{project.variant}: each middleware's share of a health request", flush=True)
    shares: dict[str, float] = run_in_project(project, MIDDLEWARE_SCRIPT, str(requests))
    print("  " + ", ".join(f"{name} {cost:,.1f} us" for name, cost in shares.items()), flush=True)
    return shares


def instructions_per_request(project: Project, scenario: str, against: str = "project") -> float:
    """Thousands of instructions callgrind counts for one request of `scenario`, made in-process
    by instructions.py to the project's application, or `against` bare_app.py or floor_app.py."""
    python = project.path / ".venv" / "bin" / "python"
    env = {**project.env, "PYTHONPATH": str(project.path)}
    with tempfile.TemporaryDirectory(prefix="tplbench-callgrind-") as scratch:
        log = Path(scratch) / "valgrind.log"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--log-file={log}",
            f"--callgrind-out-file={Path(scratch) / 'callgrind.out'}",
            str(python),
            str(INSTRUCTIONS_SCRIPT),
            scenario,
            str(COUNTED_REQUESTS),
            f"--against={against}",
        ]
        with subprocess.Popen(
            command,
            cwd=project.path,
            env=env,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdin is not None and process.stderr is not None
            watchdog = threading.Timer(900, process.kill)
            watchdog.start()
            try:
                said = ""
                for line in process.stderr:  # until it is warm and waiting
                    said += line
                    if line.strip() == "ready":
                        break
                else:
                    raise BenchError(f"instructions.py {scenario} stopped:\n{said[-2000:]}")
                run(["callgrind_control", "--instr=on", str(process.pid)], cwd=project.path)
                process.stdin.write("go\n")
                process.stdin.flush()
                said += process.stderr.read()
                if process.wait() != 0:
                    raise BenchError(f"instructions.py {scenario} failed:\n{said[-2000:]}")
            finally:
                watchdog.cancel()
        collected = re.search(r"Collected : (\d+)", log.read_text())
    if collected is None:
        raise BenchError(f"callgrind reported no count; see {log}")
    return int(collected[1]) / COUNTED_REQUESTS / 1000


def instruction_counts(project: Project, scenarios: Sequence[str]) -> dict[str, float]:
    """instructions.py's count per request of each in-process scenario, and bare FastAPI's
    health check beside the project's."""
    print(f"{project.variant}: instructions per request (callgrind)", flush=True)
    counted = [name for name in INSTRUCTION_SCENARIOS if name in scenarios]
    counts = {name: instructions_per_request(project, name) for name in counted}
    if HEALTH.name in counted:
        counts[BARE_FASTAPI_HEALTH.name] = instructions_per_request(project, HEALTH.name, "bare")
    if READ_ITEM.name in counted and project.database_kind == "postgresql":
        counts[FLOOR_READ_ITEM.name] = instructions_per_request(project, READ_ITEM.name, "floor")
    print("  " + ", ".join(f"{name} {count:,.0f}k" for name, count in counts.items()), flush=True)
    return counts


def pool_waits(project: Project, requests: int, seconds: float) -> dict[str, dict[str, Any]]:
    """pool_wait.py: waits for a pooled connection, SQLAlchemy's own pool against the project's."""
    print(f"{project.variant}: {requests} requests waiting on the connection pool", flush=True)
    waits: dict[str, dict[str, Any]] = run_in_project(
        project, POOL_WAIT_SCRIPT, str(requests), f"{seconds:g}"
    )
    for pool, figures in waits.items():
        print(
            f"  {pool:<10} {figures['checkouts_per_second']:>7,.0f} checkouts/s  wait p99 "
            f"{figures['wait_p99_ms']:,.0f} ms, max {figures['wait_max_ms']:,.0f} ms, "
            f"{figures['pool_timeouts']} pool timeouts",
            flush=True,
        )
    return waits


def bench_app(
    project: Project,
    bench_app: str,
    scenario: Scenario,
    options: argparse.Namespace,
    log: Path,
    *,
    token: str = "",
    item_id: str = "",
) -> Measurement:
    """One scenario against one of the benchmark's own apps (bare_app.py, floor_app.py), one
    worker process, the project's packages, server and settings."""
    print(f"{project.variant}: {scenario.name} ({bench_app}), 1 worker process", flush=True)
    with (
        server(project, 1, log, bench_app=bench_app) as (base_url, pid),
        RssSampler(pid) as rss,
    ):
        load = Load.of_run(project, (base_url, pid), rss, options, token=token, item_id=item_id)
        return load.measure(scenario)


def bench_reference(
    project: Project, checkout: Path, options: argparse.Namespace, log: Path
) -> list[Measurement]:
    """The scenarios the reference has, against its backend served like the project (one worker,
    the same server command), seeded like the project; named `reference_<scenario>`."""
    python = find_python(str(project.answers["python_version"]))
    reference = reference_backend.prepare(checkout, python or sys.executable)
    chosen = [name for name in options.scenarios if name in reference_backend.PATHS]
    try:
        with (
            server(project, 1, log, reference=reference) as (base_url, pid),
            RssSampler(pid) as rss,
        ):
            token = log_in(base_url, "/api/v1/login/access-token", reference_backend.login_form())
            _, create_path, created = reference_backend.PATHS["create_item"]
            item_id = create_items(base_url, create_path, created, token, options.items)[0]
            load = Load.of_run(project, (base_url, pid), rss, options, token=token, item_id=item_id)
            print("reference: 1 worker process", flush=True)
            return [load.measure(reference_scenario(name)) for name in chosen]
    finally:
        reference_backend.drop_database()


def reference_scenario(name: str) -> Scenario:
    """Our scenario `name` as the reference serves it."""
    ours = SCENARIO_NAMES[name]
    method, path, status = reference_backend.PATHS[name]
    return Scenario(
        REFERENCE_PREFIX + name,
        method,
        path,
        status,
        body=ours.body,
        content_type=ours.content_type,
        authenticated=ours.authenticated,
    )


# ---------------------------------------------------------------- command line


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    commit = run(
        ["git", "describe", "--always", "--dirty"], cwd=TEMPLATE_ROOT, step="git", check=False
    ).stdout.strip()
    wrk_version = run([shutil.which("wrk") or "wrk", "-v"], cwd="/", step="wrk", check=False)
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "template_commit": commit,
        "wrk": (wrk_version.stdout + wrk_version.stderr).split("\n", 1)[0].strip(),
    }


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Benchmark services generated from this template with wrk.",
    )
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        choices=sorted(VARIANTS),
        help="variant to benchmark (repeatable; default: every variant copier.yml offers)",
    )
    parser.add_argument(
        "--workers",
        action="append",
        help='server worker processes (repeatable): a number, "production" (the count the '
        'Dockerfile sets) or "cpus" (one per CPU); default: 1, production and cpus',
    )
    parser.add_argument(
        "--scenario",
        dest="scenarios",
        action="append",
        choices=list(SCENARIO_NAMES),
        help="scenario to run (repeatable; default: all)",
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--connections", type=int, default=64, help="open connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--items", type=int, default=1000, help="items seeded (1000)")
    parser.add_argument(
        "--stall-runs",
        type=int,
        default=STALL_RUNS,
        help=f"stall test runs, 0 for none ({STALL_RUNS})",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH_DIR / "results",
        help="directory for the JSON and Markdown results (tests/bench/results)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        help="a checkout of the official full-stack FastAPI template: its backend is measured "
        "too, once, with one worker (never committed here; see tests/bench/reference.py)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count each request's instructions with callgrind (Debian package valgrind): "
        "a figure other work on the machine does not move (see tests/bench/instructions.py)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the rendered projects (their paths are printed)"
    )
    options = parser.parse_args(argv)
    options.variants = options.variants or list(VARIANTS)
    options.workers = options.workers or ["1", "production", "cpus"]
    options.scenarios = options.scenarios or list(SCENARIO_NAMES)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_arguments(argv)
    if options.instructions and shutil.which("valgrind") is None:
        print(
            "valgrind is not installed; --instructions counts with it. "
            "On Debian or Ubuntu: apt-get install valgrind",
            file=sys.stderr,
        )
        return 2
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed; the benchmark needs it to load the service. "
            "On Debian or Ubuntu: apt-get install wrk",
            file=sys.stderr,
        )
        return 2
    started = datetime.datetime.now(datetime.UTC)
    options.output.mkdir(parents=True, exist_ok=True)
    stem = options.output / f"bench-{started:%Y%m%dT%H%M%SZ}"
    measurements: list[Measurement] = []
    stalls: list[StallTest] = []
    layers: dict[str, dict[str, float]] = {}
    middleware: dict[str, dict[str, float]] = {}
    waits: dict[str, dict[str, dict[str, Any]]] = {}
    instructions: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    workdir = Path(tempfile.mkdtemp(prefix="tplbench-"))
    try:
        for variant in options.variants:
            if missing := not_offered(VARIANTS[variant]):
                skipped[variant] = f"copier.yml does not offer {', '.join(missing)} yet"
                print(f"skipping {variant}: {skipped[variant]}", flush=True)
                continue
            project = render(variant, VARIANTS[variant], workdir / variant)
            install(project)
            named = {"production": production_workers(project), "cpus": os.cpu_count() or 1}
            counts = (named.get(workers) or int(workers) for workers in options.workers)
            for workers in dict.fromkeys(counts):
                print(f"{variant}: {workers} worker process(es)", flush=True)
                found, stall = bench_server(
                    project,
                    workers,
                    options,
                    stem.with_name(f"{stem.name}-{variant}-{workers}.log"),
                )
                measurements += found
                if stall.runs:
                    stalls.append(stall)
                    print(f"  stall ratio last/first: {stall.ratio:.2f}", flush=True)
            layers[variant] = database_read_layers(project)
            # A thousand requests per configuration for each second a wrk run lasts.
            middleware[variant] = middleware_shares(
                project, max(1000, int(options.duration * 1000))
            )
            waits[variant] = pool_waits(project, options.connections, options.duration)
            if options.instructions:
                instructions[variant] = instruction_counts(project, options.scenarios)
            # Once per run: every variant has the same FastAPI and uvicorn.
            if HEALTH.name in options.scenarios and not any(
                measurement.scenario == BARE_FASTAPI for measurement in measurements
            ):
                measurements.append(
                    bench_app(
                        project,
                        "bare_app:app",
                        BARE_FASTAPI_HEALTH,
                        options,
                        stem.with_name(f"{stem.name}-bare-fastapi.log"),
                    )
                )
            if options.reference and not any(
                measurement.scenario.startswith(REFERENCE_PREFIX) for measurement in measurements
            ):
                measurements += bench_reference(
                    project,
                    options.reference,
                    options,
                    stem.with_name(f"{stem.name}-reference.log"),
                )
            Provisioner(run=run).database(
                project.database_kind, project.database_name, drop_only=True
            )
    finally:
        if options.keep:
            print(f"rendered projects kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    heading = f"Benchmark of {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs"
    table = markdown(
        measurements,
        stalls,
        heading=heading,
        layers=layers,
        middleware=middleware,
        pool_waits=waits,
        instructions=instructions,
    )
    results = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            key: getattr(options, key)
            for key in ("duration", "warmup", "connections", "threads", "items", "stall_runs")
        },
        "variants": {name: VARIANTS[name] for name in options.variants if name not in skipped},
        "skipped": skipped,
        "measurements": [measurement.row() for measurement in measurements],
        "stall_tests": [stall.row() for stall in stalls],
        "database_read_layers_cpu_us": layers,
        "middleware_share_cpu_us": middleware,
        "pool_waits": waits,
        "thousand_instructions_per_request": instructions,
    }
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    stem.with_suffix(".md").write_text(table)
    print(f"\n{table}\nwritten: {stem}.json, {stem}.md")
    return 0

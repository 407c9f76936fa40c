"""The benchmark's pure parts: reading wrk's summary, judging targets, writing the tables."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

RESULT_MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, as request.lua's `done()` hook reports it (latencies in microseconds)."""

    requests: int
    duration_us: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def requests_per_second(self) -> float:
        return self.requests / (self.duration_us / 1_000_000) if self.duration_us else 0.0

    @property
    def error_count(self) -> int:
        """Responses with a status of 400 or more, plus socket errors and timeouts."""
        return sum(self.errors.values())

    def latency_ms(self, name: str) -> float:
        return self.latency_us[name] / 1000


def parse_wrk_output(stdout: str) -> WrkResult:
    """The result line request.lua prints; ValueError when wrk printed none (it failed)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            data = json.loads(line.removeprefix(RESULT_MARKER))
            return WrkResult(
                requests=int(data["requests"]),
                duration_us=int(data["duration_us"]),
                errors={name: int(count) for name, count in data["errors"].items()},
                latency_us={name: float(value) for name, value in data["latency_us"].items()},
            )
    raise ValueError(f"wrk printed no {RESULT_MARKER.strip()} line:\n{stdout[-2000:]}")


@dataclass(frozen=True)
class Measurement:
    """A scenario measured against one server: its wrk run and what the machine did meanwhile."""

    variant: str
    workers: int
    scenario: str
    result: WrkResult
    peak_rss_mb: float
    load_average: tuple[float, float, float]
    """`uptime`'s 1, 5 and 15 minute load averages when the run started."""
    server_cpu_seconds: float
    """CPU time the server's processes used during the run."""

    @property
    def cpu_ms_per_request(self) -> float:
        """Server CPU per answered request: unlike req/s, barely moved by what else runs."""
        requests = self.result.requests
        return self.server_cpu_seconds * 1000 / requests if requests else 0.0

    def row(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "workers": self.workers,
            "scenario": self.scenario,
            "requests_per_second": round(self.result.requests_per_second, 1),
            "p50_ms": round(self.result.latency_ms("p50"), 2),
            "p99_ms": round(self.result.latency_ms("p99"), 2),
            "errors": self.result.error_count,
            "cpu_ms_per_request": round(self.cpu_ms_per_request, 3),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "load_average": list(self.load_average),
            "wrk": asdict(self.result),
        }


@dataclass(frozen=True)
class Target:
    """A figure the template promises on one worker process (see docs/performance.md)."""

    scenario: str
    min_requests_per_second: float | None = None
    max_p99_ms: float | None = None

    def failures(self, measurement: Measurement) -> list[str]:
        result = measurement.result
        found = []
        if (minimum := self.min_requests_per_second) and result.requests_per_second < minimum:
            found.append(f"{result.requests_per_second:,.0f} req/s < {minimum:,.0f}")
        if (maximum := self.max_p99_ms) and result.latency_ms("p99") > maximum:
            found.append(f"p99 {result.latency_ms('p99'):.1f} ms > {maximum:g} ms")
        return found


TARGETS = (Target("read_item", max_p99_ms=100),)
MAX_PEAK_RSS_MB = 150
MIN_STALL_RATIO = 0.9
# Baselines served by the same server with the same packages, held to no target: the framework
# alone (bare_app.py) answering the health route, and the floor of an authenticated read
# (floor_app.py: the token check and one asyncpg query).
BARE_FASTAPI = "bare_fastapi_health"
FLOOR = "floor_read_item"
BASELINES = frozenset({BARE_FASTAPI, FLOOR})
# The official template's backend (reference.py), named after the scenario it mirrors.
REFERENCE_PREFIX = "reference_"
# The item read serves at least this many times the reference's requests per second.
MIN_RATE_OVER_REFERENCE = {"read_item": 2.5}


@dataclass(frozen=True)
class CpuRatioTarget:
    """A scenario's CPU per request at most `max_ratio` times its baseline's, both measured in
    the same run: ratios travel between machines, requests per second do not."""

    scenario: str
    baseline: str
    max_ratio: float


CPU_RATIO_TARGETS = (
    CpuRatioTarget("health", BARE_FASTAPI, 1.8),
    CpuRatioTarget("read_item", FLOOR, 2.5),
    CpuRatioTarget("list_items", "read_item", 2.0),
)
BASELINE_OF = {target.scenario: target.baseline for target in CPU_RATIO_TARGETS}


def baseline_of(
    measurement: Measurement, measurements: Sequence[Measurement]
) -> Measurement | None:
    """The one-worker measurement `measurement`'s CPU is compared with: of the same variant when
    there is one (the floor, the read), else any (bare FastAPI runs once per benchmark)."""
    name = BASELINE_OF.get(measurement.scenario)
    candidates = [m for m in measurements if m.scenario == name and m.workers == 1]
    same_variant = [m for m in candidates if m.variant == measurement.variant]
    return next(iter(same_variant or candidates), None)


def cpu_ratio(measurement: Measurement, measurements: Sequence[Measurement]) -> float | None:
    baseline = baseline_of(measurement, measurements)
    if baseline is None or not baseline.cpu_ms_per_request:
        return None
    return measurement.cpu_ms_per_request / baseline.cpu_ms_per_request


@dataclass
class StallTest:
    """Back-to-back runs of one scenario against the same server process."""

    variant: str
    workers: int
    runs: list[Measurement] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The last run's throughput over the first's: below 1 means the server slowed down."""
        first, last = self.runs[0].result, self.runs[-1].result
        return last.requests_per_second / first.requests_per_second

    @property
    def errors(self) -> int:
        return sum(run.result.error_count for run in self.runs)

    def failures(self) -> list[str]:
        found = []
        if self.errors:
            found.append(f"{self.errors} errors over {len(self.runs)} runs")
        if self.ratio < MIN_STALL_RATIO:
            found.append(f"last/first {self.ratio:.2f} < {MIN_STALL_RATIO}")
        return found

    def row(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "workers": self.workers,
            "requests_per_second": [round(run.result.requests_per_second, 1) for run in self.runs],
            "ratio_last_to_first": round(self.ratio, 3),
            "errors": self.errors,
            "load_average": [list(run.load_average) for run in self.runs],
        }


def _judged(measurement: Measurement) -> bool:
    """Targets apply to the service on one worker process, not to the baselines."""
    return (
        measurement.workers == 1
        and measurement.scenario not in BASELINES
        and not measurement.scenario.startswith(REFERENCE_PREFIX)
    )


def target_failures(measurements: Sequence[Measurement], stalls: Iterable[StallTest]) -> list[str]:
    """Every missed target of the single-process runs, as sentences; empty when all are met."""
    targets = {target.scenario: target for target in TARGETS}
    ratio_targets = {target.scenario: target for target in CPU_RATIO_TARGETS}
    found = []
    for measurement in measurements:
        if not _judged(measurement):
            continue
        where = f"{measurement.variant}/{measurement.scenario}"
        if target := targets.get(measurement.scenario):
            found += [f"{where}: {failure}" for failure in target.failures(measurement)]
        found += _slower_than_promised_over_reference(measurement, measurements)
        ratio = cpu_ratio(measurement, measurements)
        ratio_target = ratio_targets.get(measurement.scenario)
        if ratio is not None and ratio_target and ratio > ratio_target.max_ratio:
            found.append(
                f"{where}: CPU per request {ratio:.2f}x {ratio_target.baseline}'s "
                f"> {ratio_target.max_ratio:g}x"
            )
        if measurement.peak_rss_mb > MAX_PEAK_RSS_MB:
            found.append(f"{where}: peak RSS {measurement.peak_rss_mb:.0f} MB > {MAX_PEAK_RSS_MB}")
    for stall in stalls:
        if stall.workers == 1:
            found += [f"{stall.variant}/stall: {failure}" for failure in stall.failures()]
    return found


def _slower_than_promised_over_reference(
    measurement: Measurement, measurements: Sequence[Measurement]
) -> list[str]:
    minimum = MIN_RATE_OVER_REFERENCE.get(measurement.scenario)
    name = REFERENCE_PREFIX + measurement.scenario
    reference = next((m for m in measurements if m.scenario == name), None)
    if minimum is None or reference is None or not reference.result.requests_per_second:
        return []
    ratio = measurement.result.requests_per_second / reference.result.requests_per_second
    if ratio >= minimum:
        return []
    where = f"{measurement.variant}/{measurement.scenario}"
    return [f"{where}: {ratio:.2f}x the reference's req/s < {minimum:g}x"]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _instruction_ratio(scenario: str, counts: Mapping[str, float]) -> str:
    baseline = BASELINE_OF.get(scenario)
    if baseline not in counts:
        return "-"
    return f"{counts[scenario] / counts[baseline]:.2f} ({baseline})"


def _ratio(measurement: Measurement, measurements: Sequence[Measurement]) -> str:
    ratio = cpu_ratio(measurement, measurements)
    if ratio is None:
        return "-"
    return f"{ratio:.2f} ({BASELINE_OF[measurement.scenario]})"


def _load(load_average: Sequence[float]) -> str:
    return " ".join(f"{value:.2f}" for value in load_average)


# layers.py's names, from the driver up to what a request's session does.
LAYERS = (
    "driver",
    "core_in_transaction",
    "core_per_request",
    "orm_per_request",
    "orm_read_only_per_request",
)


def markdown(
    measurements: Sequence[Measurement],
    stalls: Sequence[StallTest],
    *,
    heading: str,
    layers: Mapping[str, Mapping[str, float]] | None = None,
    middleware: Mapping[str, Mapping[str, float]] | None = None,
    pool_waits: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    instructions: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """The results as Markdown: one table per measurement kind, then the missed targets."""
    lines = [f"# {heading}", ""]
    lines += _table(
        [
            "variant",
            "workers",
            "scenario",
            "req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "CPU ms/req",
            "CPU x baseline",
            "peak RSS MB",
            "load 1/5/15 min",
        ],
        (
            [
                m.variant,
                str(m.workers),
                m.scenario,
                f"{m.result.requests_per_second:,.0f}",
                f"{m.result.latency_ms('p50'):.1f}",
                f"{m.result.latency_ms('p99'):.1f}",
                str(m.result.error_count),
                f"{m.cpu_ms_per_request:.2f}",
                _ratio(m, measurements),
                f"{m.peak_rss_mb:.0f}",
                _load(m.load_average),
            ]
            for m in measurements
        ),
    )
    if stalls:
        lines += ["", f"## Stall test: {len(stalls[0].runs)} back-to-back runs", ""]
        lines += _table(
            ["variant", "workers", "req/s per run", "last/first", "errors"],
            (
                [
                    stall.variant,
                    str(stall.workers),
                    ", ".join(f"{run.result.requests_per_second:,.0f}" for run in stall.runs),
                    f"{stall.ratio:.2f}",
                    str(stall.errors),
                ]
                for stall in stalls
            ),
        )
    if layers:
        lines += ["", "## One database read by primary key, CPU µs by layer (layers.py)", ""]
        lines += _table(
            ["variant", *LAYERS],
            (
                [variant, *(f"{costs[layer]:,.0f}" if layer in costs else "-" for layer in LAYERS)]
                for variant, costs in layers.items()
            ),
        )
    if middleware:
        lines += [
            "",
            "## A health request's CPU µs: each middleware's share (middleware_share.py)",
            "",
        ]
        lines += _table(
            ["variant", "share", "CPU µs"],
            (
                [variant, name, f"{cost:,.1f}"]
                for variant, shares in middleware.items()
                for name, cost in shares.items()
            ),
        )
    if pool_waits:
        lines += ["", "## Waiting for a pooled connection (pool_wait.py)", ""]
        lines += _table(
            ["variant", "pool", "checkouts/s", "wait p50 ms", "p99 ms", "max ms", "timeouts"],
            (
                [
                    variant,
                    pool,
                    f"{figures['checkouts_per_second']:,.0f}",
                    f"{figures['wait_p50_ms']:,.1f}",
                    f"{figures['wait_p99_ms']:,.0f}",
                    f"{figures['wait_max_ms']:,.0f}",
                    str(figures["pool_timeouts"]),
                ]
                for variant, pools in pool_waits.items()
                for pool, figures in pools.items()
            ),
        )
    if instructions:
        lines += ["", "## Thousands of instructions per request, in-process (instructions.py)", ""]
        lines += _table(
            ["variant", "scenario", "k instructions", "x baseline"],
            (
                [variant, scenario, f"{count:,.0f}", _instruction_ratio(scenario, counts)]
                for variant, counts in instructions.items()
                for scenario, count in counts.items()
            ),
        )
    lines += ["", "## Targets (one worker process)", ""]
    if any(map(_judged, measurements)) or any(stall.workers == 1 for stall in stalls):
        failures = target_failures(measurements, stalls)
        lines += [f"- missed: {failure}" for failure in failures] or ["- all met"]
    else:
        lines += ["- not judged: no run used one worker process"]
    return "\n".join(lines) + "\n"

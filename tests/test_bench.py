"""The benchmark (tests/bench, run with `uv run python -m tests.bench`) cannot rot unnoticed.

Its pure parts are checked here in milliseconds; one smoke test runs it for a second per
scenario against the default variant when wrk is installed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from bench import reference, report, run
from harness.availability import require_service, unavailable

WRK_STDOUT = """\
Running 10s test @ http://127.0.0.1:8000/health/live
  2 threads and 64 connections
Requests/sec:  12345.67
BENCH_RESULT {"requests": 20000, "duration_us": 10000000, "bytes": 1, \
"errors": {"connect": 0, "read": 1, "write": 0, "status": 2, "timeout": 3}, \
"latency_us": {"mean": 4100.5, "p50": 3900, "p90": 6000, "p99": 12500, "max": 40000}}
"""


def measurement(
    scenario: str,
    requests: int,
    p99_us: int = 1000,
    *,
    workers: int = 1,
    peak_rss_mb: float = 100.0,
    server_cpu_seconds: float = 0.9,
) -> report.Measurement:
    """A one-second run of `requests` requests."""
    result = report.WrkResult(
        requests=requests,
        duration_us=1_000_000,
        errors={"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        latency_us={"mean": 500.0, "p50": 400.0, "p90": 800.0, "p99": float(p99_us), "max": 9e3},
    )
    return report.Measurement(
        variant="default",
        workers=workers,
        scenario=scenario,
        result=result,
        peak_rss_mb=peak_rss_mb,
        load_average=(0.5, 0.4, 0.3),
        server_cpu_seconds=server_cpu_seconds,
    )


def test_wrk_output_is_parsed_from_the_lua_summary_line() -> None:
    result = report.parse_wrk_output(WRK_STDOUT)
    assert result.requests_per_second == pytest.approx(2000)
    assert result.error_count == 6
    assert result.latency_ms("p50") == pytest.approx(3.9)
    assert result.latency_ms("p99") == pytest.approx(12.5)


def test_wrk_output_without_a_summary_is_an_error() -> None:
    with pytest.raises(ValueError, match="BENCH_RESULT"):
        report.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_the_lua_script_prints_every_field_the_parser_reads() -> None:
    script = run.REQUEST_SCRIPT.read_text()
    assert report.RESULT_MARKER in script
    for name in ("requests", "duration_us", "errors", "latency_us", "p50", "p99", "timeout"):
        assert f'"{name}"' in script


def test_targets_apply_to_one_worker_process() -> None:
    slow_read = measurement("read_item", requests=1500, p99_us=180_000)
    heavy = measurement("list_items", requests=1000, peak_rss_mb=180.0)
    two_workers = measurement("read_item", requests=10, p99_us=900_000, workers=2)
    bare_framework = measurement(report.BARE_FASTAPI, requests=10, peak_rss_mb=900.0)
    failures = report.target_failures([slow_read, heavy, two_workers, bare_framework], [])
    assert failures == [
        "default/read_item: p99 180.0 ms > 100 ms",
        "default/list_items: peak RSS 180 MB > 150",
    ]


def test_cpu_targets_are_ratios_to_baselines_of_the_same_run() -> None:
    # 0.9 s of server CPU each: CPU per request is inversely proportional to requests.
    floor = measurement(report.FLOOR, requests=3000)  # 0.30 ms
    read = measurement("read_item", requests=1000)  # 0.90 ms: 3.0x the floor
    listing = measurement("list_items", requests=600)  # 1.50 ms: 1.67x the read
    bare = measurement(report.BARE_FASTAPI, requests=9000)  # 0.10 ms
    health = measurement("health", requests=6000)  # 0.15 ms: 1.5x bare FastAPI
    everything = [floor, read, listing, bare, health]
    assert report.cpu_ratio(read, everything) == pytest.approx(3.0)
    assert report.cpu_ratio(listing, everything) == pytest.approx(1.5 / 0.9)
    assert report.cpu_ratio(health, everything) == pytest.approx(1.5)
    assert report.target_failures(everything, []) == [
        f"default/read_item: CPU per request 3.00x {report.FLOOR}'s > 2.5x"
    ]
    assert report.cpu_ratio(read, [read]) is None, "no floor measured: no ratio, no verdict"
    assert report.target_failures([read], []) == []
    row = "| default | 1 | read_item | 1,000 | 0.4 | 1.0 | 0 | 0.90 | 3.00 (floor_read_item) |"
    assert any(
        line.startswith(row) for line in report.markdown(everything, [], heading="B").splitlines()
    )


def test_cpu_per_request_divides_the_server_cpu_by_the_answered_requests() -> None:
    read = measurement("read_item", requests=400, server_cpu_seconds=0.9)
    assert read.cpu_ms_per_request == pytest.approx(2.25)
    assert read.row()["cpu_ms_per_request"] == pytest.approx(2.25)
    assert measurement("login", requests=0).cpu_ms_per_request == 0


def test_the_bare_fastapi_server_is_the_image_command_serving_bare_app(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        'FROM python:3.12-slim\nENV WEB_CONCURRENCY=1\nCMD ["uvicorn", "--factory", '
        '"app.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--loop", "uvloop"]\n'
    )
    project = run.Project("default", tmp_path, {}, {"PATH": "/usr/bin"})
    command, _ = run.server_command(project, 8123, bench_app="bare_app:app")
    assert command == [
        "uvicorn",
        "--app-dir",
        str(run.BENCH_DIR),
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "8123",
        "--loop",
        "uvloop",
    ]
    assert (run.BENCH_DIR / "bare_app.py").is_file()


def test_the_floor_app_reads_what_the_service_writes() -> None:
    """floor_app.py checks tokens with the settings the benchmark gives the service and reads
    the columns of the generated items table."""
    source = (run.BENCH_DIR / "floor_app.py").read_text()
    for name in ("SECRET_KEY", "JWT_ISSUER", "JWT_AUDIENCE", "DATABASE_URL"):
        assert f'"{name}"' in source
    assert run.FLOOR_READ_ITEM.path == run.READ_ITEM.path
    assert run.FLOOR_READ_ITEM.authenticated


def test_stall_ratio_compares_the_last_run_with_the_first() -> None:
    stall = report.StallTest("default", 1, [measurement("read_item", n) for n in (1000, 950, 850)])
    assert stall.ratio == pytest.approx(0.85)
    assert stall.failures() == ["last/first 0.85 < 0.9"]
    assert stall.row()["requests_per_second"] == [1000.0, 950.0, 850.0]


def test_markdown_has_a_row_per_measurement_and_the_missed_targets() -> None:
    rows = [measurement("health", 12_000), measurement("read_item", 2500)]
    stall = report.StallTest("default", 1, [measurement("read_item", n) for n in (2500, 2450)])
    layers = {"default": {"driver": 80.0, "orm_per_request": 1900.4}, "mysql": {}}
    waits = {
        "default": {
            "fair": {
                "checkouts_per_second": 190.4,
                "wait_p50_ms": 79.14,
                "wait_p99_ms": 583.4,
                "wait_max_ms": 1605.9,
                "pool_timeouts": 0,
            }
        }
    }
    shares = {"default": {"all": 120.5, "RequestContextMiddleware": 45.25, "framework": 53.0}}
    text = report.markdown(
        rows, [stall], heading="Benchmark", layers=layers, middleware=shares, pool_waits=waits
    )
    lines = text.splitlines()
    assert lines[0] == "# Benchmark"
    health_row = (
        "| default | 1 | health | 12,000 | 0.4 | 1.0 | 0 | 0.07 | - | 100 | 0.50 0.40 0.30 |"
    )
    assert health_row in lines
    assert "| default | 1 | 2,500, 2,450 | 0.98 | 0 |" in lines
    assert "| default | 80 | - | - | 1,900 | - |" in lines
    assert "| default | fair | 190 | 79.1 | 583 | 1,606 | 0 |" in lines
    assert "| default | RequestContextMiddleware | 45.2 |" in lines
    assert lines[-1] == "- all met"


def test_targets_are_not_judged_without_a_one_worker_run() -> None:
    two_workers = measurement("health", requests=12_000, workers=2)
    text = report.markdown([two_workers], [], heading="Benchmark")
    assert text.splitlines()[-1] == "- not judged: no run used one worker process"


def test_the_baselines_alone_are_not_judged() -> None:
    two_workers = measurement("health", requests=12_000, workers=2)
    bare_framework = measurement(report.BARE_FASTAPI, requests=3000)
    floor = measurement(report.FLOOR, requests=3000)
    text = report.markdown([two_workers, bare_framework, floor], [], heading="Benchmark")
    assert text.splitlines()[-1] == "- not judged: no run used one worker process"


def test_variants_the_template_does_not_offer_are_named() -> None:
    assert run.not_offered(run.VARIANTS["default"]) == []
    assert run.not_offered(run.VARIANTS["mysql"]) == []
    assert run.not_offered(run.VARIANTS["sqlmodel"]) == []
    assert run.not_offered({"database": "oracle"}) == ["database=oracle"]


def test_a_missing_wrk_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _: None)
    assert run.main([]) == 2
    assert "apt-get install wrk" in capsys.readouterr().err


def test_instruction_counts_are_compared_with_their_baselines() -> None:
    counts = {"health": 600.0, report.BARE_FASTAPI: 400.0, "read_item": 3000.0}
    assert report._instruction_ratio("health", counts) == f"1.50 ({report.BARE_FASTAPI})"
    assert report._instruction_ratio("read_item", counts) == "-", "no floor counted"
    assert report._instruction_ratio(report.BARE_FASTAPI, counts) == "-"


@pytest.mark.variant
def test_bench_smoke(tmp_path: Path) -> None:
    """One second per scenario on the default variant: every scenario answers, nothing fails;
    callgrind counts each in-process scenario's instructions."""
    for tool in ("wrk", "valgrind"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (Debian package {tool}); the smoke test needs it")
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", "127.0.0.1", 6379)
    code = run.main(
        [
            "--variant=default",
            "--workers=1",
            "--duration=1",
            "--warmup=0",
            "--stall-runs=2",
            "--items=20",
            "--instructions",
            f"--output={tmp_path}",
        ]
    )
    assert code == 0
    (results,) = tmp_path.glob("bench-*.json")
    data = json.loads(results.read_text())
    measured = {row["scenario"]: row for row in data["measurements"]}
    assert set(measured) == {*run.SCENARIO_NAMES, report.BARE_FASTAPI, report.FLOOR}
    for name, row in measured.items():
        if name != "login":  # a second may end before the first Argon2 hash does
            assert row["requests_per_second"] > 0, row
            assert row["cpu_ms_per_request"] > 0, row
        assert row["wrk"]["errors"]["status"] == 0, row
    assert data["stall_tests"][0]["errors"] == 0
    layers = data["database_read_layers_cpu_us"]["default"]
    assert set(layers) == set(report.LAYERS), layers
    assert all(cost > 0 for cost in layers.values()), layers
    shares = data["middleware_share_cpu_us"]["default"]
    assert {"all", "RequestContextMiddleware", "framework"} <= set(shares), shares
    assert shares["all"] > shares["framework"] > 0, shares
    waits = data["pool_waits"]["default"]
    assert set(waits) == {"sqlalchemy", "fair"}, waits
    assert waits["sqlalchemy"]["pool_class"] == "AsyncAdaptedQueuePool", waits
    assert waits["fair"]["pool_class"] == "FairAsyncQueuePool", waits
    assert all(pool["checkouts_per_second"] > 0 for pool in waits.values()), waits
    counted = data["thousand_instructions_per_request"]["default"]
    assert set(counted) == {*run.INSTRUCTION_SCENARIOS, report.BARE_FASTAPI, report.FLOOR}
    assert counted["health"] > counted[report.BARE_FASTAPI] > 0, counted
    assert counted["read_item"] > counted[report.FLOOR] > 0, counted
    assert results.with_suffix(".md").read_text().startswith("# Benchmark")


def test_the_reference_rows_mirror_our_scenarios_and_set_the_read_rate_target() -> None:
    for name in reference.PATHS:
        mirrored = run.reference_scenario(name)
        assert mirrored.name == report.REFERENCE_PREFIX + name
        assert mirrored.authenticated == run.SCENARIO_NAMES[name].authenticated
    ours = measurement("read_item", requests=1000)
    theirs = measurement(report.REFERENCE_PREFIX + "read_item", requests=500)
    assert report.target_failures([ours, theirs], []) == [
        "default/read_item: 2.00x the reference's req/s < 2.5x"
    ]
    assert report.target_failures([ours], []) == [], "no reference measured: no verdict"
    assert report.target_failures([theirs], []) == [], "the reference is held to no target"

"""Liveness and readiness probes, outside the versioned API."""

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse

from app.core.celery_app import celery_app
from app.core.errors import error_response
from app.schemas.common import HealthReport
from app.services.health import broker_check, database_check, redis_check, run_checks

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> HealthReport:
    """The process is up and serving requests."""
    return HealthReport(status="ok", checks={})


@router.get(
    "/ready",
    response_model=HealthReport,
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"description": "A dependency is down."}},
)
async def ready(request: Request) -> HealthReport | JSONResponse:
    """Every dependency answers; 503 names the ones that do not."""
    state = request.app.state
    checks = await run_checks(
        {
            "database": database_check(state.engine),
            "redis": redis_check(state.redis),
            "broker": broker_check(celery_app, state.settings.health_check_timeout_seconds),
        },
        timeout_seconds=state.settings.health_check_timeout_seconds,
    )
    failing = sorted(name for name, result in checks.items() if result != "ok")
    if failing:
        return error_response(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "dependency_unavailable",
            f"Not ready: {', '.join(failing)} unavailable.",
            details=[{"dependency": name, "status": checks[name]} for name in failing],
        )
    return HealthReport(status="ok", checks=checks)

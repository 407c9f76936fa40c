"""The Celery application: reliable delivery defaults, request ids carried into tasks."""

import asyncio
from typing import Any

import structlog
from celery import Celery, Task, signals
from celery.schedules import crontab
from kombu.exceptions import OperationalError

from app.core.config import Settings, get_settings
from app.core.logging import REQUEST_ID_KEY, configure_logging, current_request_id

TASK_MODULES = ["app.tasks.notifications", "app.tasks.maintenance"]


def create_celery(settings: Settings) -> Celery:
    celery = Celery(
        "app",
        broker=settings.celery_broker_url,
        backend=settings.celery_result_backend,
        include=TASK_MODULES,
    )
    celery.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        # A task is acknowledged only once it has finished: a worker that dies mid-task
        # leaves the message to be delivered again, so every task must be idempotent.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
        task_always_eager=settings.celery_task_always_eager,
        task_eager_propagates=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "purge-expired-refresh-tokens": {
                "task": "app.tasks.maintenance.purge_expired_refresh_tokens",
                "schedule": crontab(minute=0),
            },
        },
    )
    return celery


celery_app = create_celery(get_settings())
logger = structlog.get_logger(__name__)


async def enqueue[**P](task: Task[P, Any], *args: P.args, **kwargs: P.kwargs) -> bool:
    """Publish a task from async code without blocking the event loop.

    Returns False, and logs an error, when the broker cannot be reached: the request that
    asked for the task has already done its own work and should still succeed.
    """
    try:
        await asyncio.to_thread(task.delay, *args, **kwargs)
    except OperationalError as exc:
        logger.error("task_not_queued", task=task.name, error=str(exc))
        return False
    return True


@signals.setup_logging.connect
def _configure_worker_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)


@signals.before_task_publish.connect
def _attach_request_id(headers: dict[str, Any], **_: Any) -> None:
    request_id = current_request_id()
    if request_id is not None:
        headers[REQUEST_ID_KEY] = request_id


@signals.task_prerun.connect
def _bind_task_context(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        task_id=task_id,
        task_name=task.name,
        **{REQUEST_ID_KEY: getattr(task.request, REQUEST_ID_KEY, None)},
    )

import socket
from datetime import UTC, datetime

import structlog

from app.core.celery_app import celery_app

logger = structlog.get_logger(__name__)


@celery_app.task
def heartbeat() -> str:
    """Periodic (see beat_schedule): log that beat schedules and a worker runs tasks.

    Alert on the `worker_heartbeat` log event going missing. Returns when it ran (ISO 8601).
    """
    ran_at = datetime.now(UTC).isoformat()
    logger.info("worker_heartbeat", hostname=socket.gethostname(), ran_at=ran_at)
    return ran_at

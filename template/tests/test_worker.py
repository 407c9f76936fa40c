"""A real Celery worker process against the real broker: the tasks as production runs them."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.celery_app import celery_app
from app.tasks.maintenance import purge_expired_refresh_tokens
from app.tasks.notifications import send_welcome_email
from tests.helpers import service_unavailable

pytestmark = pytest.mark.integration
TASK_TIMEOUT_SECONDS = 30


@pytest.fixture
def worker_queue(monkeypatch: pytest.MonkeyPatch, engine: AsyncEngine) -> Iterator[str]:
    """Start a worker on a queue of its own; stop it by PID afterwards."""
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises many kinds
        service_unavailable(f"Celery broker at {celery_app.conf.broker_url}", exc)
    queue = f"test-{uuid.uuid4().hex}"
    environment = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"}
    worker = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "app.core.celery_app",
            "worker",
            "--pool=solo",
            "--queues",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        env=environment,
    )
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    try:
        yield queue
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_worker_sends_the_welcome_email_once(worker_queue: str) -> None:
    user_id = str(uuid.uuid4())
    args = (user_id, "worker@example.com", "Worker")
    first = send_welcome_email.apply_async(args=args, queue=worker_queue)
    assert first.get(timeout=TASK_TIMEOUT_SECONDS) is True
    again = send_welcome_email.apply_async(args=args, queue=worker_queue)
    assert again.get(timeout=TASK_TIMEOUT_SECONDS) is False


def test_worker_purges_expired_tokens(worker_queue: str) -> None:
    result = purge_expired_refresh_tokens.apply_async(queue=worker_queue)
    assert isinstance(result.get(timeout=TASK_TIMEOUT_SECONDS), int)

"""A real Celery worker process against the real broker: the tasks as production runs them."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.celery_app import celery_app
from app.tasks.maintenance import purge_expired_refresh_tokens
from app.tasks.notifications import send_welcome_email
from tests.helpers import service_unavailable

pytestmark = pytest.mark.integration
TASK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Worker:
    queue: str
    log: Path

    def log_records(self) -> list[dict[str, object]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="module")
def worker(engine: AsyncEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """Start a worker on a queue of its own, logging JSON to a file; stop it by PID afterwards."""
    try:
        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises many kinds
        service_unavailable(f"Celery broker at {celery_app.conf.broker_url}", exc)
    queue = f"test-{uuid.uuid4().hex}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    environment = {
        **os.environ,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "celery", "-A", "app.core.celery_app", "worker"]
    options = ["--pool=solo", f"--queues={queue}", "--without-gossip", "--without-mingle"]
    with log.open("w") as log_file:
        process = subprocess.Popen(  # noqa: S603  # our own interpreter, fixed arguments
            [*command, *options], env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
            yield Worker(queue=queue, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_worker_sends_the_welcome_email_once(worker: Worker) -> None:
    user_id = str(uuid.uuid4())
    args = (user_id, "worker@example.com", "Worker")
    first = send_welcome_email.apply_async(args=args, queue=worker.queue)
    assert first.get(timeout=TASK_TIMEOUT_SECONDS) is True
    again = send_welcome_email.apply_async(args=args, queue=worker.queue)
    assert again.get(timeout=TASK_TIMEOUT_SECONDS) is False


def test_task_logs_carry_the_request_id(worker: Worker) -> None:
    request_id = uuid.uuid4().hex
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        result = send_welcome_email.apply_async(
            args=(str(uuid.uuid4()), "traced@example.com", ""), queue=worker.queue
        )
    assert result.get(timeout=TASK_TIMEOUT_SECONDS) is True
    traced = [record for record in worker.log_records() if record.get("request_id") == request_id]
    assert "email_sent" in {record["event"] for record in traced}
    assert {record["task_name"] for record in traced} == {
        "app.tasks.notifications.send_welcome_email"
    }


def test_worker_purges_expired_tokens(worker: Worker) -> None:
    result = purge_expired_refresh_tokens.apply_async(queue=worker.queue)
    assert isinstance(result.get(timeout=TASK_TIMEOUT_SECONDS), int)

"""Celery tasks. Each is idempotent: with late acknowledgement a message can arrive twice."""

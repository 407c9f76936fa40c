"""Values derived from the answers, computed once here instead of in Jinja across files."""

from __future__ import annotations

import secrets
from typing import Any

from copier_template_extensions import ContextHook

DATABASE_DRIVERS = {
    "postgresql": {"scheme": "postgresql+asyncpg", "port": 5432, "image": "postgres:17-alpine"},
}


CI_CONFIG_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}

# Celery broker and result backend URLs, for a host name: "localhost" for a developer machine
# and CI service containers, the compose service name inside the stack. Over RabbitMQ, results
# travel back as messages (rpc://): they are only read by whoever sent the task.
BROKERS = {
    "redis": {
        "url": "redis://{host}:6379/1",
        "result_backend": "redis://{host}:6379/2",
        "service": "redis",
    },
    "rabbitmq": {
        "url": "amqp://guest:guest@{host}:5672//",
        "result_backend": "rpc://",
        "service": "rabbitmq",
    },
}


class DerivedValues(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        orm = context.get("orm", "none")
        database = context.get("database") if orm != "none" else None
        broker = context.get("broker", "none")
        cache = context.get("cache", "none")
        python_version = str(context.get("python_version", "3.12"))
        slug = context.get("project_slug", "service")

        context["has_database"] = database is not None
        context["has_celery"] = broker != "none"
        context["has_redis"] = "redis" in (broker, cache)
        context["has_cache"] = cache == "redis"
        context["has_metrics"] = "prometheus" in (context.get("observability") or [])
        context["python_target"] = "py" + python_version.replace(".", "")
        # `class Page[T]` and `def f[**P]` (PEP 695) need Python 3.12.
        context["pep695_generics"] = tuple(map(int, python_version.split("."))) >= (3, 12)
        context["database_name"] = slug.replace("-", "_")
        context["ci_config_file"] = CI_CONFIG_FILES.get(context.get("ci", "none"))
        if database is not None:
            driver = DATABASE_DRIVERS[database]
            context["database_scheme"] = driver["scheme"]
            context["database_port"] = driver["port"]
            context["database_image"] = driver["image"]
        if broker in BROKERS:
            urls = BROKERS[broker]
            service = urls["service"]
            context["broker_service"] = service
            context["broker_url"] = urls["url"].format(host="localhost")
            context["broker_url_in_stack"] = urls["url"].format(host=service)
            context["result_backend"] = urls["result_backend"].format(host="localhost")
            context["result_backend_in_stack"] = urls["result_backend"].format(host=service)
        # Settings that carry credentials: deployment manifests take them from a secret store,
        # never from committed configuration. A URL with user info ("user:password@") does.
        secret_settings = ["SECRET_KEY"]
        if database is not None:
            secret_settings.append("DATABASE_URL")
        if "@" in context.get("broker_url", ""):
            secret_settings.append("CELERY_BROKER_URL")
        context["secret_settings"] = secret_settings
        # The compose services the application talks to, as opposed to those it is built into.
        context["backing_services"] = [
            name
            for name, needed in (
                ("db", database is not None),
                ("redis", context["has_redis"]),
                ("rabbitmq", broker == "rabbitmq"),
            )
            if needed
        ]
        service_names = {"db": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ"}
        names = [service_names[service] for service in context["backing_services"]]
        context["backing_services_prose"] = (
            f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)
        )
        # A fresh key for the generated .env; .env is never overwritten on update.
        context["generated_secret_key"] = secrets.token_urlsafe(48)

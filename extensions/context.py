"""Values derived from the answers, computed once here instead of in Jinja across files."""

from __future__ import annotations

import secrets
from typing import Any

from copier_template_extensions import ContextHook

DATABASE_DRIVERS = {
    "postgresql": {"scheme": "postgresql+asyncpg", "port": 5432, "image": "postgres:17-alpine"},
}


CI_CONFIG_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}


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
        # A fresh key for the generated .env; .env is never overwritten on update.
        context["generated_secret_key"] = secrets.token_urlsafe(48)

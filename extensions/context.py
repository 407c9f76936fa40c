"""Values derived from the answers, computed once here instead of in Jinja across files."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from copier_template_extensions import ContextHook

# Per database server: the SQLAlchemy URL scheme, the account the development URLs use (the
# compose container and CI service containers are created with it), the container image, and
# how that container is configured and health-checked.
DATABASE_DRIVERS = {
    "postgresql": {
        "server_name": "PostgreSQL",
        "scheme": "postgresql+asyncpg",
        "credentials": "postgres:postgres",
        "port": 5432,
        "image": "postgres:17-alpine",
        "data_dir": "/var/lib/postgresql/data",
        "container_env": {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "postgres"},
        "database_env": "POSTGRES_DB",
        "healthcheck": "pg_isready -U postgres",
        "create_command": "createdb -h localhost -U postgres {name}",
    },
    "mysql": {
        "server_name": "MySQL or MariaDB",
        "scheme": "mysql+aiomysql",
        # As a fresh local MySQL or MariaDB; the compose container is published on 127.0.0.1 only.
        "credentials": "root",
        "port": 3306,
        "image": "mariadb:11.4",
        "data_dir": "/var/lib/mysql",
        "container_env": {"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD": "1"},
        "database_env": "MARIADB_DATABASE",
        "healthcheck": "healthcheck.sh --connect --innodb_initialized",
        "create_command": "mariadb -h 127.0.0.1 -u root -e 'CREATE DATABASE {name}'",
    },
}

# SQLite is a file, not a server: its URL names a file under data/ (relative to the working
# directory; /app/data in the containers, a volume every app service mounts).
SQLITE = {
    "server_name": "SQLite",
    "scheme": "sqlite+aiosqlite",
    "data_dir": "/app/data",
}

# The local stack's mail catcher (auth=jwt): MailDev keeps what the app sends and shows it in
# a web UI. Inside the stack the app services send to it (the settings catalogue's compose
# values); only the web UI is published, on 127.0.0.1.
MAIL_CATCHER = {
    "service": "mail",
    "image": "maildev/maildev:2.2.1",
    "smtp_port": 1025,
    "web_port": 1080,
}

CI_CONFIG_FILES = {"github": ".github/workflows/ci.yml", "gitlab": ".gitlab-ci.yml"}

# Files the organisation owns in every project, as glob patterns: `make template-check` fails
# when one of them differs from the template. The check's own script is one: the scheduled CI
# job (house-owned too) runs it directly. A platform team adds files in its policy.
HOUSE_OWNED_FILES = [".pre-commit-config.yaml", "scripts/template_check.py", "Dockerfile"]
HOUSE_OWNED_CI_FILES = {"github": ".github/workflows/*", "gitlab": ".gitlab-ci.yml"}

# The Poetry releases a generated project supports: PEP 735 [dependency-groups] need 2.2, so
# pyproject.toml differs between the package managers only in its [tool.uv] / [tool.poetry] table.
POETRY_MINIMUM = "2.2"
POETRY_REQUIREMENT = f">={POETRY_MINIMUM},<3"

# The commands each package manager answers to, so the Makefile, the pre-commit hooks, CI, the
# README and the message after copy name them once.
PACKAGE_MANAGERS = {
    "uv": {
        "run_prefix": "uv run",
        "install_command": "uv sync",
        "lock_command": "uv lock",
        "lock_file": "uv.lock",
        # Where pyproject.toml pins the tested versions, and how one package or all move on.
        "pins_location": "`[tool.uv] constraint-dependencies`",
        "upgrade_package_command": "uv lock --upgrade-package",
        "upgrade_all_command": "uv lock --upgrade",
        "package_manager_link": "[uv](https://docs.astral.sh/uv/)",
    },
    "poetry": {
        "run_prefix": "poetry run",
        "install_command": "poetry install",
        "lock_command": "poetry lock",
        "lock_file": "poetry.lock",
        "pins_location": "`[tool.poetry.dependencies]` and its dev group's table",
        "upgrade_package_command": "poetry update",
        "upgrade_all_command": "poetry update",
        "package_manager_link": f"[Poetry](https://python-poetry.org/) {POETRY_MINIMUM} or later",
    },
}

# Per auth mode, the module whose `CurrentPrincipal` dependency authenticates the caller.
PRINCIPAL_DEPENDENCIES = {
    "jwt": "app.accounts.dependencies",
    "api_key": "app.api_keys.dependencies",
    "oidc": "app.oidc.dependencies",
}

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


def load_sibling(name: str) -> ModuleType:
    """Another module of extensions/: Copier loads each one by its file path, not as a package.

    Keyed by the path, since `copier update` renders two versions of the template in one process.
    """
    path = Path(__file__).with_name(f"{name}.py")
    module_name = f"template_extensions_{name}_{hashlib.sha256(bytes(path)).hexdigest()[:12]}"
    if (module := sys.modules.get(module_name)) is not None:
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def record_absolute_source(answers: dict[str, Any]) -> None:
    """Record a template given as a relative path (`copier copy . ../svc`) by its absolute path.

    Copier records `_src_path` as typed, and `copier update` reads it from the project
    directory, where "." is the project itself. URLs and absolute paths are kept as they are.
    """
    source = answers.get("_src_path")
    if isinstance(source, str) and not Path(source).is_absolute() and Path(source).is_dir():
        answers["_src_path"] = str(Path(source).resolve())


PYTHON_VERSION = re.compile(r"^3\.[0-9]+$")


def known(value: Any, values: Iterable[str]) -> str | None:
    """`value` when it is one of `values`, else None.

    Copier renders its questions' help, defaults and validators, and so runs this hook, while
    the answers given with `-d`, `--data-file` or an answers file are still unchecked: an answer
    Copier will refuse at its own question ("pip", a list, a number) must derive nothing here
    and raise nothing, so that the refusal names that question. Files are only rendered once
    every answer has passed its question.
    """
    return value if isinstance(value, str) and value in values else None


class DerivedValues(ContextHook):
    def hook(self, context: dict[str, Any]) -> None:
        if isinstance(answers := context.get("_copier_answers"), dict):
            record_absolute_source(answers)
        orm = known(context.get("orm"), ("sqlalchemy", "sqlmodel")) or "none"
        database = known(context.get("database"), (*DATABASE_DRIVERS, "sqlite"))
        if orm == "none":
            database = None
        broker = known(context.get("broker"), BROKERS) or "none"
        cache = known(context.get("cache"), ("redis",)) or "none"
        python_version = str(context.get("python_version", ""))
        if not PYTHON_VERSION.match(python_version):
            python_version = "3.12"
        slug = context.get("project_slug")
        if not isinstance(slug, str) or not slug:
            slug = "service"
        auth = context.get("auth")
        ci = known(context.get("ci"), CI_CONFIG_FILES) or "none"
        package_manager = known(context.get("package_manager"), PACKAGE_MANAGERS) or "uv"
        observability = context.get("observability")
        if not isinstance(observability, list):
            observability = []

        context["has_database"] = database is not None
        # Tables and item schemas are SQLModel classes. Sessions and repositories are the same
        # SQLAlchemy ones with either ORM (SQLModel's AsyncSession deprecates `scalars()`).
        context["is_sqlmodel"] = orm == "sqlmodel"
        context["orm_name"] = "SQLModel" if orm == "sqlmodel" else "SQLAlchemy 2.0"
        # Accounts (users, passwords, refresh tokens) exist with JWT auth only.
        context["has_users"] = auth == "jwt"
        # A resource server: bearer tokens from an external OpenID Connect issuer, no accounts.
        context["has_oidc"] = auth == "oidc"
        # API keys live in an `api_keys` table with a database, in settings (as digests) without.
        context["has_api_keys"] = auth == "api_key"
        # Every auth mode but none authenticates a caller as one `Principal`
        # (app/core/principal.py), from the `CurrentPrincipal` dependency of its own package:
        # domains import it from there.
        context["principal_dependencies"] = PRINCIPAL_DEPENDENCIES.get(
            known(auth, PRINCIPAL_DEPENDENCIES) or "none"
        )
        context["has_principal"] = context["principal_dependencies"] is not None
        context["has_stored_api_keys"] = context["has_api_keys"] and database is not None
        context["has_settings_api_keys"] = context["has_api_keys"] and database is None
        # Endpoints that list a collection page by page: users (for admins) and items.
        context["has_paged_lists"] = context["has_users"] or bool(context.get("include_examples"))
        # Whether the database starts with tables (and so an initial migration).
        context["has_tables"] = (
            context["has_users"]
            or context["has_stored_api_keys"]
            or bool(context.get("include_examples"))
        )
        context["has_celery"] = broker != "none"
        # Alembic revisions past the first three, in order: the items domain's 0004 exists when
        # items and an authenticated caller share a database; the accounts' 0005 (password
        # resets, email verification) follows the last revision before it.
        has_items_revision = (
            bool(context.get("include_examples"))
            and database is not None
            and context["has_principal"]
        )
        context["accounts_0005_down_revision"] = "0004" if has_items_revision else "0003"
        # The domain packages under app/ that this project has, and what each contributes:
        # routers mounted under /api/v1 (in this order), Celery task modules.
        examples = bool(context.get("include_examples"))
        context["domain_routers"] = [
            *([("app.api_keys.router", "api_keys_router")] if context["has_api_keys"] else []),
            *(
                [
                    ("app.accounts.auth_router", "auth_router"),
                    ("app.accounts.users_router", "users_router"),
                ]
                if context["has_users"]
                else []
            ),
            *([("app.oidc.router", "me_router")] if context["has_oidc"] else []),
            *([("app.items.router", "items_router")] if examples else []),
        ]
        context["table_models"] = [
            *(
                [("app.accounts.models", ["PasswordReset", "RefreshToken", "User"])]
                if context["has_users"]
                else []
            ),
            *([("app.api_keys.models", ["ApiKey"])] if context["has_stored_api_keys"] else []),
            *([("app.items.models", ["Item"])] if examples else []),
        ]
        context["task_modules"] = ["app.core.heartbeat"] + (
            ["app.accounts.tasks"] if context["has_users"] else []
        )
        context["has_redis"] = "redis" in (broker, cache)
        context["has_cache"] = cache == "redis"
        context["has_metrics"] = "prometheus" in observability
        context["has_tracing"] = "opentelemetry" in observability
        context["has_sentry"] = "sentry" in observability
        context["python_target"] = "py" + python_version.replace(".", "")
        # `class Page[T]` and `def f[**P]` (PEP 695) need Python 3.12.
        context["pep695_generics"] = tuple(map(int, python_version.split("."))) >= (3, 12)
        context["database_name"] = slug.replace("-", "_")
        context["ci_config_file"] = CI_CONFIG_FILES.get(ci)
        ci_files = HOUSE_OWNED_CI_FILES.get(ci)
        context["house_owned_files"] = [*filter(None, [ci_files]), *HOUSE_OWNED_FILES]
        context.update(PACKAGE_MANAGERS[package_manager])
        context["poetry_requirement"] = POETRY_REQUIREMENT
        context["has_database_server"] = database in DATABASE_DRIVERS
        context["has_sqlite"] = database == "sqlite"
        if database == "sqlite":
            context["database_server_name"] = SQLITE["server_name"]
            context["database_scheme"] = SQLITE["scheme"]
            context["database_data_dir"] = SQLITE["data_dir"]
            file_name = f"{context['database_name']}.db"
            context["database_file"] = f"data/{file_name}"
            context["database_url"] = f"{SQLITE['scheme']}:///{context['database_file']}"
            context["database_url_in_stack"] = (
                f"{SQLITE['scheme']}:///{SQLITE['data_dir']}/{file_name}"
            )
        elif database is not None:
            driver = DATABASE_DRIVERS[database]
            context["database_server_name"] = driver["server_name"]
            context["database_scheme"] = driver["scheme"]
            context["database_port"] = driver["port"]
            context["database_image"] = driver["image"]
            context["database_data_dir"] = driver["data_dir"]
            context["create_database_command"] = driver["create_command"].format(
                name=context["database_name"]
            )
            context["database_healthcheck"] = driver["healthcheck"]
            context["database_container_env"] = {
                **driver["container_env"],
                driver["database_env"]: context["database_name"],
            }
            url = "{scheme}://{credentials}@{host}:{port}/{name}".format_map(
                {**driver, "name": context["database_name"], "host": "{host}"}
            )
            context["database_url"] = url.format(host="localhost")
            context["database_url_in_stack"] = url.format(host="db")
        if broker in BROKERS:
            urls = BROKERS[broker]
            service = urls["service"]
            context["broker_service"] = service
            context["broker_url"] = urls["url"].format(host="localhost")
            context["broker_url_in_stack"] = urls["url"].format(host=service)
            context["result_backend"] = urls["result_backend"].format(host="localhost")
            context["result_backend_in_stack"] = urls["result_backend"].format(host=service)
        if context["has_users"]:
            context["mail_catcher"] = MAIL_CATCHER
        # The compose services the application talks to, as opposed to those it is built into.
        context["backing_services"] = [
            name
            for name, needed in (
                ("db", context["has_database_server"]),
                ("redis", context["has_redis"]),
                ("rabbitmq", broker == "rabbitmq"),
            )
            if needed
        ]
        service_names = {"redis": "Redis", "rabbitmq": "RabbitMQ"}
        if context["has_database_server"]:
            service_names["db"] = DATABASE_DRIVERS[database]["server_name"]
        names = [service_names[service] for service in context["backing_services"]]
        context["backing_services_prose"] = (
            f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)
        )
        # A fresh key for the generated .env; .env is never overwritten on update.
        context["generated_secret_key"] = secrets.token_urlsafe(48)
        if context["has_settings_api_keys"]:
            # As app/api_keys/keys.py makes them, for the one caller the generated .env admits.
            key = "ak_" + secrets.token_urlsafe(32)
            context["generated_api_key"] = {
                "key": key,
                "digest": hashlib.sha256(key.encode()).hexdigest(),
            }
        # The settings catalogue (extensions/settings.py) as these answers have it: config.py's
        # fields, .env.example, .env, the ConfigMap, the Secret's keys, compose and CI.
        python_string = load_sibling("encoding").python_string
        load_sibling("settings").derive(context, python_string)
        # pyproject.toml's dependencies and the versions the template's tests installed.
        load_sibling("dependencies").derive(context)

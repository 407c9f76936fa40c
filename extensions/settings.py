"""The settings catalogue: every setting a generated service reads, written once.

Each row gives a setting's name, its type in `app/core/config.py`, its default, whether it is a
credential, which answers need it, what it means, and the values it takes where they differ from
the default: in the generated `.env`, on the compose network, in CI and in Kubernetes. From it
the context hook derives what the templates lay out: the field declarations of `Settings`,
`.env.example`, `.env`, the Kubernetes ConfigMap (and the list of the Secret's keys), compose's
`environment:` and the CI test job's environment. The validators and properties of `Settings`
stay hand-written in config.py.

Values are Python values (a bool, a number, a list), written for each file in its own syntax;
a callable instead of a value or text is called with the context (the answers and the values
context.py derives from them).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Context = Mapping[str, Any]
Predicate = Callable[[Context], bool]
LINE_LENGTH = 100
# Comments stop a little short of the line length, as people wrap them.
COMMENT_WIDTH = 96


class Required:
    """No default: the service refuses to start without the setting."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = Required()


@dataclass(frozen=True)
class Unset:
    """No value: the setting is off (its default is None). `example` is what a file shows,
    commented out, for the reader to fill in."""

    example: str = ""


@dataclass(frozen=True)
class Setting:
    name: str
    # The type of the `Settings` field; None for a setting another program reads (uvicorn).
    annotation: str | None
    default: Any = REQUIRED
    description: Any = ""  # the comment in .env.example
    # The `Field(...)` arguments beside the default, and the default as config.py spells it
    # when its repr will not do (`1024 * 1024`, a constant's name).
    constraints: str = ""
    python_default: str | None = None
    note: Any = ""  # the comment in config.py, for whoever reads the code
    secret: Predicate = lambda context: False
    needs: Predicate | None = None  # None: whenever its group is there
    # What .env.example shows for a required setting: a placeholder.
    placeholder: str | None = None
    # The generated .env (a local checkout); None: not written there.
    dotenv: Any = None
    dotenv_note: Any = ""
    # A service address: its value on the compose network (None when it is the default), and
    # the compose service it points at (None when it points at none: a SQLite file).
    in_stack: Any = None
    service: Any = None
    compose: Any = None  # the stack's own value, elsewhere unused (ENVIRONMENT, the mail catcher)
    ci: Any = None  # CI's value beside an address (a throwaway key for a required secret)
    kubernetes: Any = None  # the ConfigMap's value, when it is neither default nor address
    kubernetes_note: Any = ""
    # Where a credential would be in the ConfigMap: what says it comes from the Secret.
    secret_note: Any = ""
    # Fixed by the answers (the project's name): never set per environment.
    internal: bool = False


@dataclass(frozen=True)
class Group:
    title: str
    needs: Predicate
    settings: list[Setting] = field(default_factory=list)


def always(context: Context) -> bool:
    return True


def answer(name: str) -> Predicate:
    return lambda context: bool(context.get(name))


def slug(context: Context) -> str:
    return str(context.get("project_slug") or "service")


def development_issuer(context: Context) -> str:
    return f"http://localhost:8080/realms/{slug(context)}"


def environment_description(context: Context) -> str:
    intro = "development | test | staging | production."
    refusal = "Outside development and test the service refuses to start"
    if context.get("has_users"):
        return f"{intro} {refusal} with a placeholder, short or guessable SECRET_KEY."
    if context.get("has_oidc"):
        return f"{intro} {refusal} without an OIDC_ISSUER."
    if context.get("has_settings_api_keys"):
        return f"{intro} {refusal} without API_KEY_DIGESTS."
    return f"{intro} API docs (/docs) are served in development and test."


def login_failures_description(context: Context) -> str:
    text = (
        "Failed logins allowed per account and per client address within the window (seconds); "
        "past either limit, logins answer 429 with Retry-After until the window ends."
    )
    return text if context.get("has_cache") else f"{text} Counted per process."


def redis_url(host: str) -> str:
    return f"redis://{host}:6379/0"


KEY_GENERATOR = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'

CATALOGUE = [
    Group(
        "application",
        always,
        [
            Setting("PROJECT_NAME", "str", lambda c: str(c.get("project_name", "")), internal=True),
            Setting(
                "ENVIRONMENT",
                'Literal["development", "test", "staging", "production"]',
                "development",
                environment_description,
                dotenv="development",
                compose="development",
                kubernetes="production",
            ),
            Setting(
                "LOG_LEVEL",
                'Literal["DEBUG", "INFO", "WARNING", "ERROR"]',
                "INFO",
                "DEBUG | INFO | WARNING | ERROR",
                dotenv="INFO",
            ),
            Setting(
                "LOG_JSON",
                "bool",
                True,
                "JSON log lines (for log shippers); false prints human-readable lines.",
                dotenv=False,
            ),
            Setting(
                "CORS_ALLOW_ORIGINS",
                "list[str]",
                [],
                "Origins allowed by CORS, as a JSON list in single quotes, e.g. "
                "'[\"https://app.example.com\"]'.",
                constraints='validation_alias=AliasChoices("cors_allow_origins", "cors_origins")',
                note=(
                    "Read from CORS_ALLOW_ORIGINS, or from CORS_ORIGINS, its name before template "
                    "0.2.0."
                ),
                dotenv=["http://localhost:3000"],
            ),
            Setting(
                "MAX_REQUEST_BODY_BYTES",
                "int",
                1024 * 1024,
                "Request bodies larger than this many bytes are refused with 413.",
                constraints="ge=1",
                python_default="1024 * 1024",
                note="Larger request bodies are refused with 413 before they are read.",
            ),
        ],
    ),
    Group(
        "server (uvicorn)",
        always,
        [
            Setting(
                "FORWARDED_ALLOW_IPS",
                None,
                "127.0.0.1,::1",
                "Read by uvicorn, not by the app (compose passes .env to the containers): the "
                "proxies, as IPs or networks, comma-separated, whose X-Forwarded-For and "
                "X-Forwarded-Proto are believed. The client address is then the one the nearest "
                'of them saw; from any other peer the headers are ignored. Never "*": every '
                "client could then choose its own address.",
                kubernetes_note=(
                    "Read by uvicorn, not by the app: the proxies (IPs or CIDR networks, "
                    "comma-separated) whose X-Forwarded-For and X-Forwarded-Proto are believed. "
                    "Set it to the network your ingress controller's pods connect from (e.g. the "
                    "pod network, 10.244.0.0/16); the default believes no one, and the client "
                    "address of every request is then the ingress controller's."
                ),
            ),
        ],
    ),
    Group(
        "security",
        answer("has_users"),
        [
            Setting(
                "SECRET_KEY",
                "SecretStr",
                REQUIRED,
                "Signs the JWTs; at least 32 characters. Generate one with:\n  " + KEY_GENERATOR,
                secret=always,
                placeholder="change-me",
                dotenv=lambda c: c["generated_secret_key"],
                dotenv_note=(
                    "Random key generated for this project; production must use its own secret."
                ),
                ci="ci-only-secret-key-that-signs-nothing-real",
            ),
            Setting("ACCESS_TOKEN_EXPIRE_MINUTES", "int", 15, constraints="gt=0"),
            Setting("REFRESH_TOKEN_EXPIRE_DAYS", "int", 14, constraints="gt=0"),
            Setting(
                "JWT_ISSUER",
                "str",
                slug,
                "The iss and aud claims of the tokens this service issues, and the only ones it "
                "accepts.",
                note=(
                    "Tokens name who issued them and for whom: a token another service signed "
                    "with a shared key is refused."
                ),
            ),
            Setting("JWT_AUDIENCE", "str", slug),
            Setting(
                "LOGIN_FAILURES_PER_ACCOUNT",
                "int",
                10,
                login_failures_description,
                constraints="ge=1",
                note=(
                    "Failed logins allowed per account and per client address in a window before "
                    "logins are refused with 429 until the window ends."
                ),
            ),
            Setting("LOGIN_FAILURES_PER_ADDRESS", "int", 100, constraints="ge=1"),
            Setting("LOGIN_FAILURE_WINDOW_SECONDS", "int", 900, constraints="ge=1"),
            Setting(
                "RESET_LINK_EXPIRE_MINUTES",
                "int",
                30,
                "How long a password reset link works after it is sent; it works once.",
                constraints="ge=1",
            ),
            Setting(
                "ACCOUNT_EMAILS_PER_ACCOUNT",
                "int",
                3,
                "Requests that email an address (a password reset, a verification link again) "
                "allowed per address asked for and per client address within the window "
                "(seconds), each kind counted apart, whether or not the address has an account; "
                "past either limit, requests answer 429 with Retry-After until the window ends.",
                constraints="ge=1",
                note=(
                    "Requests that email an address (password reset, verification resend), per "
                    "address asked for and per client in a window; past either, 429."
                ),
            ),
            Setting("ACCOUNT_EMAILS_PER_ADDRESS", "int", 20, constraints="ge=1"),
            Setting("ACCOUNT_EMAIL_WINDOW_SECONDS", "int", 3600, constraints="ge=1"),
            Setting(
                "EMAIL_VERIFICATION_EXPIRE_HOURS",
                "int",
                48,
                "How long the link that verifies an email address works (sent at sign-up, on "
                "request and when the address changes).",
                constraints="ge=1",
            ),
            Setting(
                "LOGIN_REQUIRES_VERIFIED_EMAIL",
                "bool",
                False,
                "Refuse logins (403 email_not_verified) until the address is verified.",
            ),
            Setting(
                "FRONTEND_URL",
                "str",
                "http://localhost:3000",
                "The web app the account emails link to: <FRONTEND_URL>/reset-password?token=... "
                "must post the token and a new password to /api/v1/auth/password-reset/confirm.",
                note="Where the links in account emails point (the web app's pages).",
            ),
        ],
    ),
    Group(
        "authentication (OIDC)",
        answer("has_oidc"),
        [
            Setting(
                "OIDC_ISSUER",
                "str",
                development_issuer,
                "The issuer whose access tokens are accepted, exactly as the `iss` claim of its "
                "tokens. Required outside development and test; the default is a local Keycloak "
                "realm.",
                python_default="DEVELOPMENT_ISSUER",
                dotenv=development_issuer,
                dotenv_note=(
                    "The identity provider whose access tokens the service accepts (see README.md)."
                ),
                kubernetes="",
                kubernetes_note=(
                    "Required: the issuer of the access tokens the service accepts; it refuses to "
                    "start until set."
                ),
            ),
            Setting(
                "OIDC_AUDIENCE",
                "str",
                slug,
                "The `aud` the tokens must carry for this service.",
                dotenv=slug,
            ),
            Setting(
                "OIDC_JWKS_URL",
                "str | None",
                Unset(),
                "Where the issuer publishes its signing keys; unset, it is read from\n"
                "<OIDC_ISSUER>/.well-known/openid-configuration.",
                note="Read from the issuer's discovery document when unset.",
            ),
            Setting(
                "OIDC_ALGORITHMS",
                "list[SigningAlgorithm]",
                ["RS256"],
                "Accepted signature algorithms, a JSON list of public-key algorithms (never none "
                "or HS256).",
                constraints="min_length=1",
            ),
            Setting(
                "OIDC_ROLES_CLAIM",
                "str",
                "roles",
                "The claim listing the caller's roles; a dotted path reads a nested claim, e.g. "
                "realm_access.roles for Keycloak realm roles. Scopes (scope, scp) are always read.",
                note="The claim listing the caller's roles, a dotted path for nested claims.",
            ),
            Setting(
                "OIDC_ROLE_PERMISSIONS",
                "dict[str, list[str]]",
                {},
                "Permissions granted per role, as JSON, e.g. "
                '\'{"editor": ["items:read", "items:write"]}\'.',
            ),
            Setting(
                "OIDC_JWKS_CACHE_SECONDS",
                "float",
                600.0,
                "How long the signing keys are cached, and the least time between two fetches "
                "(a token naming an unknown key triggers an early fetch: the issuer rotated its "
                "keys).",
                constraints="gt=0",
            ),
            Setting("OIDC_JWKS_MIN_REFRESH_SECONDS", "float", 10.0, constraints="ge=0"),
            Setting(
                "OIDC_LEEWAY_SECONDS",
                "int",
                30,
                "Clock skew tolerated on exp, nbf and iat.",
                constraints="ge=0",
            ),
            Setting(
                "OIDC_HTTP_TIMEOUT_SECONDS",
                "float",
                5.0,
                "Timeout of each request to the identity provider.",
                constraints="gt=0",
            ),
        ],
    ),
    Group(
        "API keys",
        answer("has_settings_api_keys"),
        [
            Setting(
                "API_KEY_DIGESTS",
                "dict[str, str]",
                {},
                'The callers let in, as a JSON object in single quotes: \'{"caller name": '
                '"SHA-256 hex digest of its key"}\'. `make api-key name=billing` makes a key and '
                "prints its entry.",
                note=(
                    'The callers let in, as {"caller name": "SHA-256 hex digest of its key"}; '
                    "only digests are configured, so the keys themselves appear nowhere. "
                    "`make api-key name=...` makes one."
                ),
                secret=always,
                dotenv=lambda c: {"local": c["generated_api_key"]["digest"]},
                dotenv_note=lambda c: (
                    "An API key generated for this checkout, for local calls: send it as "
                    f"X-API-Key.\n  {c['generated_api_key']['key']}"
                ),
            ),
        ],
    ),
    Group(
        "database",
        answer("has_database"),
        [
            Setting(
                "DATABASE_URL",
                "str",
                lambda c: c["database_url"],
                secret=answer("has_database_server"),
                in_stack=lambda c: c["database_url_in_stack"],
                service=lambda c: "db" if c.get("has_database_server") else None,
            ),
            Setting(
                "DB_POOL_SIZE",
                "int",
                10,
                "Connections kept open per server process, and extra connections allowed under "
                "load. Each of the WEB_CONCURRENCY worker processes (uvicorn's; the image sets 1) "
                "has a pool of its own.",
                constraints="ge=1",
                kubernetes_note=(
                    "Pool sizes are per process (the image runs WEB_CONCURRENCY=1 per pod): keep "
                    "(DB_POOL_SIZE + DB_MAX_OVERFLOW) x pods under the server's connection limit."
                ),
            ),
            Setting("DB_MAX_OVERFLOW", "int", 10, constraints="ge=0"),
            Setting(
                "DB_POOL_TIMEOUT_SECONDS",
                "float",
                5.0,
                "How long a request waits for a free connection before failing.",
                constraints="gt=0",
            ),
            Setting(
                "DB_POOL_RECYCLE_SECONDS",
                "int",
                1800,
                "Connections older than this are replaced (keeps clear of server and proxy idle "
                "limits).",
                constraints="gt=0",
            ),
            Setting("DB_CONNECT_TIMEOUT_SECONDS", "float", 5.0, constraints="gt=0"),
            Setting(
                "DB_STATEMENT_TIMEOUT_MS",
                "int",
                10_000,
                "Server-side limit for a single statement; 0 disables it.",
                constraints="ge=0",
                python_default="10_000",
                needs=lambda c: c.get("database") == "postgresql",
            ),
            Setting("DB_ECHO", "bool", False, "Log every SQL statement (noisy; development only)."),
        ],
    ),
    Group(
        "redis and cache",
        answer("has_cache"),
        [
            Setting(
                "REDIS_URL",
                "str",
                redis_url("localhost"),
                in_stack=redis_url("redis"),
                service="redis",
                kubernetes_note=(
                    'A Service named "redis" in the same namespace; point it at your managed Redis '
                    "instead. A URL with a password belongs in the Secret, which overrides the "
                    "value here."
                ),
            ),
            Setting("REDIS_TIMEOUT_SECONDS", "float", 2.0, constraints="gt=0"),
            Setting(
                "CACHE_TTL_SECONDS",
                "int",
                60,
                "Default lifetime of cached responses and data.",
                constraints="ge=1",
            ),
        ],
    ),
    Group(
        "background tasks (Celery)",
        answer("has_celery"),
        [
            Setting(
                "CELERY_BROKER_URL",
                "str",
                lambda c: c["broker_url"],
                secret=lambda c: "@" in c["broker_url"],
                in_stack=lambda c: c["broker_url_in_stack"],
                service=lambda c: c["broker_service"],
                secret_note="CELERY_BROKER_URL carries credentials: it is read from the Secret.",
            ),
            Setting(
                "CELERY_RESULT_BACKEND",
                "str",
                lambda c: c["result_backend"],
                lambda c: (
                    "Results travel back to the sender as AMQP messages; nothing is stored."
                    if c.get("broker") == "rabbitmq"
                    else ""
                ),
                in_stack=lambda c: c["result_backend_in_stack"],
                service=lambda c: c["broker_service"],
            ),
            Setting(
                "CELERY_BROKER_TIMEOUT_SECONDS",
                "float",
                2.0,
                "Longest wait on the broker, to connect or for an answer. Publishing a task gives "
                "up after two such waits, and the request that asked for it goes on.",
                constraints="gt=0",
                note=(
                    "Longest wait on the broker (to connect, or for an answer); a publish gives up "
                    "after two."
                ),
            ),
            Setting(
                "CELERY_VISIBILITY_TIMEOUT_SECONDS",
                "int",
                3600,
                "Seconds before a task whose worker died unacknowledged goes to another worker; "
                "above the longest task.",
                constraints="ge=1",
                note=(
                    "A task whose worker died unacknowledged is redelivered after this many "
                    "seconds: keep it above the longest task (the hard time limit is 300 s) and "
                    "any countdown or ETA."
                ),
                needs=lambda c: c.get("broker") == "redis",
            ),
        ],
    ),
    Group(
        "mail",
        answer("has_users"),
        [
            Setting(
                "MAIL_BACKEND",
                'Literal["log", "smtp"]',
                "log",
                "log | smtp. log writes each message to the log instead of sending it "
                "(development, tests); smtp sends it through the SMTP server below.",
                note="log writes each message to the log; smtp sends it to SMTP_HOST.",
                dotenv="log",
                compose="smtp",
            ),
            Setting(
                "SMTP_HOST",
                "str",
                "localhost",
                "The SMTP server (MAIL_BACKEND=smtp).",
                compose=lambda c: c["mail_catcher"]["service"],
            ),
            Setting(
                "SMTP_PORT",
                "int",
                587,
                constraints="ge=1, le=65535",
                compose=lambda c: c["mail_catcher"]["smtp_port"],
            ),
            Setting(
                "SMTP_SECURITY",
                'Literal["starttls", "tls", "none"]',
                "starttls",
                "starttls (port 587) | tls (implicit TLS, port 465) | none (a local relay or mail "
                "catcher only: credentials and messages cross the network in the clear).",
                compose="none",
            ),
            Setting(
                "SMTP_USERNAME",
                "str | None",
                Unset("apikey"),
                "Credentials, when the server asks for them.",
            ),
            Setting("SMTP_PASSWORD", "SecretStr | None", Unset(), secret=always),
            Setting(
                "SMTP_TIMEOUT_SECONDS",
                "float",
                10.0,
                "Longest wait for the SMTP server, to connect or for an answer.",
                constraints="gt=0",
            ),
            Setting(
                "MAIL_SENDER",
                "str",
                "no-reply@example.com",
                "The From address of every message; its display name is the project's name.",
                constraints="min_length=3",
            ),
        ],
    ),
    Group(
        "first superuser",
        answer("has_users"),
        [
            Setting(
                "FIRST_SUPERUSER_EMAIL",
                "EmailStr | None",
                Unset("admin@example.com"),
                "Read by `python -m app.cli create-superuser` (make superuser). Without a password "
                "it asks for one at a terminal, or generates one and prints it once. Outside "
                "development an example or guessable password is refused; keep it out of version "
                "control.",
                dotenv="admin@example.com",
                dotenv_note=(
                    "The first superuser (make superuser). Its password is asked for at a "
                    "terminal, or generated and printed once; FIRST_SUPERUSER_PASSWORD sets it "
                    "without asking (compose, CI)."
                ),
            ),
            Setting("FIRST_SUPERUSER_PASSWORD", "SecretStr | None", Unset()),
        ],
    ),
    Group(
        "tracing (OpenTelemetry)",
        answer("has_tracing"),
        [
            Setting(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "str | None",
                Unset(),
                "OTLP/HTTP collector, e.g. http://otel-collector:4318; tracing is off while unset.",
                kubernetes=Unset("http://otel-collector:4318"),
                kubernetes_note=(
                    "Tracing is off until OTEL_EXPORTER_OTLP_ENDPOINT points at an OTLP/HTTP "
                    "collector:"
                ),
            ),
            Setting("OTEL_SERVICE_NAME", "str", slug),
        ],
    ),
    Group(
        "error reporting (Sentry)",
        answer("has_sentry"),
        [
            Setting(
                "SENTRY_DSN",
                "SecretStr | None",
                Unset(),
                "Reporting is off while unset.",
                secret=always,
                secret_note="SENTRY_DSN is read from the Secret; reporting is off without it.",
            ),
            Setting(
                "SENTRY_TRACES_SAMPLE_RATE",
                "float",
                0.0,
                "Share of requests traced in Sentry's performance view, from 0 to 1.",
                constraints="ge=0, le=1",
            ),
        ],
    ),
    Group(
        "health checks",
        always,
        [
            Setting(
                "HEALTH_CHECK_TIMEOUT_SECONDS",
                "float",
                3.0,
                "Per-dependency timeout of GET /health/ready.",
                constraints="gt=0",
            ),
        ],
    ),
]


# ---------------------------------------------------------------- writing values


def resolve(value: Any, context: Context) -> Any:
    return value(context) if callable(value) else value


def comment(text: str, indent: str = "") -> str:
    """`text` as comment lines of at most COMMENT_WIDTH characters; a line break in it is kept,
    and a line that starts with spaces (a command) is never wrapped."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        if paragraph.startswith(" "):
            lines.append(f"{indent}# {paragraph}")
            continue
        width = COMMENT_WIDTH - len(indent) - 2
        wrapped = textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False)
        lines.extend(f"{indent}# {line}" for line in wrapped)
    return "\n".join(lines)


def lines(*parts: str) -> str:
    """The non-empty parts, one after the other on lines of their own."""
    return "\n".join(part for part in parts if part)


def env_text(value: Any) -> str:
    """A value as pydantic-settings reads it from the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def dotenv_text(value: Any) -> str:
    """A value for a .env file: JSON with double quotes goes in single quotes."""
    text = env_text(value)
    return f"'{text}'" if isinstance(value, list | dict) and '"' in text else text


def yaml_text(value: Any) -> str:
    """A value for a YAML mapping of environment variables: always a string."""
    text = env_text(value)
    plain = text and text[0] not in "$!&*[]{}|>'\"%@`#,?:-" and ": " not in text
    plain = plain and text not in {"true", "false", "null", "yes", "no", "on", "off"}
    return text if plain and not text.replace(".", "").isdigit() else json.dumps(text)


def python_value(value: Any, column: int, python_string: Callable[..., str]) -> str:
    if isinstance(value, str):
        return python_string(value, column=column, indent=4)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return repr(value)


def declaration(setting: Setting, default: Any, python_string: Callable[..., str]) -> str:
    """The field of `Settings`, indented for the class body, as ruff format leaves it."""
    name = setting.name.lower()
    head = f"{name}: {setting.annotation}"
    if isinstance(default, Required):
        return f"    {head}"
    if isinstance(default, Unset):
        spelled = "None"
    elif setting.python_default is not None:
        spelled = setting.python_default
    else:
        spelled = python_value(default, len(head) + 7, python_string)
    arguments = [setting.constraints] if setting.constraints else []
    if default in ([], {}):
        arguments.insert(0, f"default_factory={type(default).__name__}")
    elif arguments:
        arguments.insert(0, f"default={spelled}")
    if not arguments:
        return f"    {head} = {spelled}"
    line = f"    {head} = Field({', '.join(arguments)})"
    if len(line) <= LINE_LENGTH:
        return line
    return f"    {head} = Field(\n        {', '.join(arguments)}\n    )"


@dataclass
class Active:
    """A setting as these answers have it."""

    setting: Setting
    context: Context
    python_string: Callable[..., str]

    def get(self, name: str) -> Any:
        return resolve(getattr(self.setting, name), self.context)

    @property
    def name(self) -> str:
        return self.setting.name

    @property
    def default(self) -> Any:
        return self.get("default")

    @property
    def required(self) -> bool:
        return isinstance(self.default, Required)

    @property
    def secret(self) -> bool:
        return self.setting.secret(self.context)

    def describe(self) -> dict[str, Any]:
        setting, default = self.setting, self.default
        description = self.get("description")
        if self.required:
            description = f"Required. {description}".strip()
        if isinstance(default, Unset):
            example = f"# {self.name}={default.example}"
        elif self.required:
            example = f"{self.name}={setting.placeholder or ''}"
        else:
            example = f"{self.name}={dotenv_text(default)}"
        field_note = self.get("note")
        return {
            "name": self.name,
            "secret": self.secret,
            "required": self.required,
            "internal": setting.internal,
            "default": None if self.required or isinstance(default, Unset) else env_text(default),
            "field": (
                None
                if setting.annotation is None
                else lines(
                    comment(field_note, "    ") if field_note else "",
                    declaration(setting, default, self.python_string),
                )
            ),
            "example": lines(comment(description) if description else "", example),
            "dotenv": self.dotenv(),
            "kubernetes": self.kubernetes(),
        }

    def dotenv(self) -> str | None:
        value = self.get("dotenv")
        if value is None and self.get("in_stack") is not None:
            value = self.default  # an address: the developer sees where it points
        if value is None:
            return None
        note = self.get("dotenv_note")
        return lines(comment(note) if note else "", f"{self.name}={dotenv_text(value)}")

    def kubernetes(self) -> str | None:
        """The ConfigMap's lines for the setting (credentials: only a note)."""
        if self.setting.internal:
            return None
        if self.secret:
            note = self.get("secret_note")
            return comment(note) if note else None
        value = self.get("kubernetes")
        if value is None:
            value = self.get("in_stack")
        if value is None:
            value = self.default
        note = self.get("kubernetes_note")
        if isinstance(value, Unset):
            line = f"# {self.name}={value.example}" if note else ""
        else:
            line = f"{self.name}={env_text(value)}"
        return lines(comment(note) if note else "", line) or None

    def stack_value(self) -> str | None:
        """compose's value: an address on its network, or what the stack sets."""
        if self.required:
            message = f"set {self.name} in .env (copy .env.example) or in the environment"
            return json.dumps(f"${{{self.name}:?{message}}}")
        value = self.get("in_stack")
        if value is None:
            value = self.get("compose")
        return None if value is None else yaml_text(value)

    def ci_value(self, system: str) -> str | None:
        """CI's value: an address of a service container, or what CI sets."""
        value = self.get("ci")
        if value is None and self.get("service"):
            # GitHub publishes service containers on localhost, GitLab reaches them by name.
            value = self.default if system == "github" else self.get("in_stack")
        return None if value is None else yaml_text(value)


def active_groups(
    context: Context, python_string: Callable[..., str]
) -> Iterator[tuple[Group, list[Active]]]:
    for group in CATALOGUE:
        if not group.needs(context):
            continue
        settings = [
            Active(setting, context, python_string)
            for setting in group.settings
            if setting.needs is None or setting.needs(context)
        ]
        if settings:
            yield group, settings


HEADER_RULE = "# " + "-" * 64


def derive(context: dict[str, Any], python_string: Callable[..., str]) -> None:
    """Put the catalogue, as these answers have it, in the context."""
    groups: list[dict[str, Any]] = []
    secret_settings: list[str] = []
    compose_environment: dict[str, str] = {}
    ci_environment: dict[str, str] = {}
    ci = context.get("ci")
    for group, settings in active_groups(context, python_string):
        described = [active.describe() for active in settings]
        groups.append(
            {
                "title": group.title,
                "header": f"{HEADER_RULE} {group.title}",
                "settings": described,
                "fields": [s["field"] for s in described if s["field"]],
                "examples": [s["example"] for s in described if not s["internal"]],
                "dotenv": [s["dotenv"] for s in described if s["dotenv"]],
                "kubernetes": [s["kubernetes"] for s in described if s["kubernetes"]],
            }
        )
        for active in settings:
            if active.secret:
                secret_settings.append(active.name)
            if (value := active.stack_value()) is not None:
                compose_environment[active.name] = value
            if ci in ("github", "gitlab") and (value := active.ci_value(ci)) is not None:
                ci_environment[active.name] = value
    context["settings_groups"] = groups
    # The generated .env in blocks: a commented entry stands apart, the rest run together.
    blocks: list[list[str]] = []
    for entry in groups:
        entries = list(entry["dotenv"])
        if entries and blocks and not any(e.startswith("#") for e in entries + blocks[-1]):
            blocks[-1].extend(entries)
        elif entries:
            blocks.append(entries)
    context["dotenv_blocks"] = blocks
    context["secret_settings"] = secret_settings
    context["compose_environment"] = compose_environment
    context["ci_environment"] = ci_environment
    fields = "\n".join(f for entry in groups for f in entry["fields"])
    context["settings_pydantic_names"] = [
        name for name in ("AliasChoices", "EmailStr", "Field", "SecretStr") if name in fields
    ]

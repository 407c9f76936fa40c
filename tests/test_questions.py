"""Questions: the interface DESIGN.md promises, validators and the naming filters."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
from conftest import TEMPLATE_ROOT, clean_env, load_copier_config, run

# DESIGN.md section 4: question -> values offered (default first); None for free text.
DESIGN_QUESTIONS: dict[str, list[Any] | None] = {
    "project_name": None,
    "project_slug": None,
    "description": None,
    "author_name": None,
    "author_email": None,
    "python_version": ["3.12", "3.13", "3.11"],
    "orm": ["sqlalchemy", "sqlmodel", "none"],
    "database": ["postgresql", "mysql", "sqlite"],
    "auth": ["jwt", "api_key", "oidc", "none"],
    "broker": ["redis", "rabbitmq", "none"],
    "cache": ["redis", "none"],
    "deploy_target": ["compose", "kubernetes"],
    "ci": ["github", "gitlab", "none"],
    "package_manager": ["uv", "poetry"],
    "observability": ["prometheus", "opentelemetry", "sentry"],
    "include_examples": [True, False],
}
DESIGN_DEFAULTS: dict[str, Any] = {
    name: values[0] for name, values in DESIGN_QUESTIONS.items() if values is not None
}
DESIGN_DEFAULTS["observability"] = ["prometheus"]

# (id, question, rejected value)
INVALID_ANSWERS = [
    ("slug-with-space", "project_slug", "bad slug"),
    ("slug-starts-with-digit", "project_slug", "1service"),
    ("empty-project-name", "project_name", "   "),
    ("bad-email", "author_email", "not-an-email"),
]


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def naming() -> ModuleType:
    return load_module("template_extensions_naming", TEMPLATE_ROOT / "extensions" / "naming.py")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_copier_config()


def questions(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: details if isinstance(details, dict) else {"default": details}
        for name, details in config.items()
        if not name.startswith("_")
    }


def choice_values(details: dict[str, Any]) -> list[Any]:
    """Values of a question's choices, whichever form copier.yml uses for them."""
    choices = details.get("choices") or []
    values = choices.values() if isinstance(choices, dict) else choices
    result = []
    for value in values:
        if isinstance(value, dict) and "value" in value:
            result.append(value["value"])
        elif isinstance(value, list) and len(value) == 2 and not isinstance(choices, dict):
            result.append(value[1])  # [label, value] pairs
        else:
            result.append(value)
    return result


def expected_message(config: dict[str, Any], naming: ModuleType, question: str, value: str) -> str:
    """Render the question's validator the way copier does, to know the sentence to expect."""
    validator = questions(config)[question].get("validator")
    assert validator, f"copier.yml: {question} has no validator"
    envops = config.get("_envops", {})
    env = jinja2.Environment(
        trim_blocks=envops.get("trim_blocks", False),
        lstrip_blocks=envops.get("lstrip_blocks", False),
    )
    naming.NamingFilters(env)
    message = env.from_string(validator).render({question: value}).strip()
    assert message, f"copier.yml: the {question} validator accepts {value!r}"
    return message


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


@pytest.mark.parametrize(
    ("question", "value"),
    [pytest.param(question, value, id=case_id) for case_id, question, value in INVALID_ANSWERS],
)
def test_validator_refuses(
    question: str,
    value: str,
    tmp_path: Path,
    config: dict[str, Any],
    naming: ModuleType,
) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "copier",
        "copy",
        "--trust",
        "--defaults",
        "--vcs-ref=HEAD",
        "-d",
        f"{question}={value}",
        str(TEMPLATE_ROOT),
        str(out),
    ]
    result = run(cmd, cwd=tmp_path, env=clean_env(NO_COLOR="1"), timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"copier accepted {question}={value!r}:\n{output[-3000:]}"
    message = expected_message(config, naming, question, value)
    assert normalize(message) in normalize(output), (
        f"the validator's sentence is not shown.\nexpected: {message}\noutput:\n{output[-3000:]}"
    )
    if "Traceback" in output:
        pytest.fail(
            f"copier printed a traceback instead of only the validator's sentence:\n"
            f"{output[-3000:]}",
            pytrace=False,
        )
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    assert not written, f"files were written although an answer was refused: {written[:20]}"


def test_design_questions_exist(config: dict[str, Any]) -> None:
    missing = sorted(set(DESIGN_QUESTIONS) - set(questions(config)))
    assert not missing, f"copier.yml lacks questions that DESIGN.md section 4 names: {missing}"


@pytest.mark.parametrize("name", sorted(DESIGN_QUESTIONS))
def test_default_is_a_choice(config: dict[str, Any], name: str) -> None:
    details = questions(config).get(name)
    if details is None:
        pytest.skip(f"{name} is not in copier.yml (see test_design_questions_exist)")
    values = choice_values(details)
    if not values:
        if details.get("type") == "bool":
            assert isinstance(details.get("default"), bool), f"{name}: default is not a bool"
        return
    default = details.get("default")
    if details.get("multiselect"):
        assert isinstance(default, list), f"{name}: a multiselect default must be a list"
        outside = [value for value in default if value not in values]
        assert not outside, f"{name}: defaults {outside} are not among the choices {values}"
    else:
        assert default in values, f"{name}: default {default!r} is not among the choices {values}"


@pytest.mark.parametrize(
    "name", sorted(name for name, values in DESIGN_QUESTIONS.items() if values is not None)
)
def test_values_follow_design(config: dict[str, Any], name: str) -> None:
    """Values offered are the interface: only DESIGN.md's values, and DESIGN.md's default."""
    details = questions(config).get(name)
    if details is None:
        pytest.skip(f"{name} is not in copier.yml (see test_design_questions_exist)")
    allowed = DESIGN_QUESTIONS[name]
    assert allowed is not None
    offered = choice_values(details) or ([True, False] if details.get("type") == "bool" else [])
    unknown = [value for value in offered if value not in allowed]
    assert not unknown, f"{name}: {unknown} are not values DESIGN.md section 4 offers {allowed}"
    assert details.get("default") == DESIGN_DEFAULTS[name], (
        f"{name}: default {details.get('default')!r}, DESIGN.md says {DESIGN_DEFAULTS[name]!r}"
    )


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("My Service", "my-service"),
        ("My Billing API!", "my-billing-api"),
        ("  billing   api  ", "billing-api"),
        ("Crème Brûlée Service", "creme-brulee-service"),
        ("42 Things", "things"),
        ("Billing_API v2", "billing-api-v2"),
        ("", "service"),
        ("!!!", "service"),
        ("123", "service"),
    ],
)
def test_slugify(naming: ModuleType, text: str, slug: str) -> None:
    assert naming.slugify(text) == slug
    assert naming.is_valid_slug(naming.slugify(text))


@pytest.mark.parametrize(
    ("slug", "valid"),
    [
        ("billing-api", True),
        ("a", True),
        ("api2", True),
        ("bad slug", False),
        ("1service", False),
        ("Billing", False),
        ("-billing", False),
        ("billing-", False),
        ("billing--api", False),
        ("billing_api", False),
        ("", False),
    ],
)
def test_is_valid_slug(naming: ModuleType, slug: str, valid: bool) -> None:
    assert naming.is_valid_slug(slug) is valid


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("backend@example.com", True),
        ("first.last+tag@sub.example.org", True),
        (" backend@example.com ", True),
        ("not-an-email", False),
        ("a@b", False),
        ("a b@example.com", False),
        ("@example.com", False),
        ("a@@example.com", False),
        ("", False),
    ],
)
def test_is_valid_email(naming: ModuleType, email: str, valid: bool) -> None:
    assert naming.is_valid_email(email) is valid


def test_identifier(naming: ModuleType) -> None:
    assert naming.identifier("billing-api") == "billing_api"
    assert naming.identifier("My Service") == "my_service"
    assert naming.identifier("my-service").isidentifier()

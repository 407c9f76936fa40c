"""Questions: the interface DESIGN.md promises, validators and the naming filters."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml
from harness.matrix import rendered_default
from harness.rendering import assert_refused_cleanly, copier_copy, normalize
from harness.template import TEMPLATE_ROOT, load_copier_config, load_module

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


# (id, answers, the sentence copier.yml gives for the refusal): combinations that cannot work.
INVALID_COMBINATIONS = [
    (
        "jwt-without-a-database",
        {"orm": "none", "auth": "jwt"},
        "JWT auth stores its users and refresh tokens in the database; "
        'choose an ORM, or auth "api_key", "oidc" or "none".',
    ),
    (
        "sqlite-on-kubernetes",
        {"database": "sqlite", "deploy_target": "kubernetes"},
        "The pods of a Kubernetes Deployment cannot share a SQLite file; "
        "choose PostgreSQL or MySQL to deploy to Kubernetes.",
    ),
]


EXTENSIONS = TEMPLATE_ROOT / "extensions"


@pytest.fixture(scope="module")
def naming() -> ModuleType:
    return load_module("template_extensions_naming", EXTENSIONS / "naming.py")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_copier_config()


def questions(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: details if isinstance(details, dict) else {"default": details}
        for name, details in config.items()
        if not name.startswith("_")
    }


def default_of(config: dict[str, Any], name: str) -> Any:
    """The question's default when every other question keeps its default (a free-text
    default, such as the slug made from the name, is returned as written)."""
    details = questions(config)[name]
    if not (choice_values(details) or details.get("type") == "bool"):
        return details.get("default")
    plain = {other: details.get("default") for other, details in questions(config).items()}
    return rendered_default(details, plain)


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
    load_module("template_extensions_encoding", EXTENSIONS / "encoding.py").EncodingFilters(env)
    message = env.from_string(validator).render({question: value}).strip()
    assert message, f"copier.yml: the {question} validator accepts {value!r}"
    return message


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
    out, result = copier_copy(tmp_path, {question: value})
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"copier accepted {question}={value!r}:\n{output[-3000:]}"
    message = expected_message(config, naming, question, value)
    assert normalize(message) in normalize(output), (
        f"the validator's sentence is not shown.\nexpected: {message}\noutput:\n{output[-3000:]}"
    )
    assert_refused_cleanly(out, output)


@pytest.mark.parametrize(
    ("answers", "sentence"),
    [
        pytest.param(answers, sentence, id=case_id)
        for case_id, answers, sentence in INVALID_COMBINATIONS
    ],
)
def test_invalid_combination_is_refused(
    answers: dict[str, Any], sentence: str, tmp_path: Path
) -> None:
    out, result = copier_copy(tmp_path, answers)
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"copier accepted {answers}:\n{output[-3000:]}"
    assert normalize(sentence) in normalize(output), f"no refusal sentence:\n{output[-3000:]}"
    assert_refused_cleanly(out, output)


def test_auth_defaults_to_none_without_a_database(tmp_path: Path) -> None:
    out, result = copier_copy(tmp_path, {"orm": "none"})
    assert result.returncode == 0, result.stdout + result.stderr
    answers = yaml.safe_load((out / ".copier-answers.yml").read_text())
    assert answers["auth"] == "none"
    assert "include_examples" not in answers
    assert not (out / "app" / "items").exists()


def test_design_questions_exist(config: dict[str, Any]) -> None:
    missing = sorted(set(DESIGN_QUESTIONS) - set(questions(config)))
    assert not missing, f"copier.yml lacks questions that DESIGN.md section 4 names: {missing}"


@pytest.mark.parametrize("name", sorted(DESIGN_QUESTIONS))
def test_default_is_a_choice(config: dict[str, Any], name: str) -> None:
    details = questions(config).get(name)
    if details is None:
        pytest.skip(f"{name} is not in copier.yml (see test_design_questions_exist)")
    values = choice_values(details)
    default = default_of(config, name)
    if not values:
        if details.get("type") == "bool":
            assert isinstance(default, bool), f"{name}: default is not a bool"
        return
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
    default = default_of(config, name)
    assert default == DESIGN_DEFAULTS[name], (
        f"{name}: default {default!r}, DESIGN.md says {DESIGN_DEFAULTS[name]!r}"
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
        # Nothing to make a slug from: empty, and the project_slug validator asks for one.
        ("", ""),
        ("!!!", ""),
        ("123", ""),
    ],
)
def test_slugify(naming: ModuleType, text: str, slug: str) -> None:
    assert naming.slugify(text) == slug
    assert naming.is_valid_slug(slug) or not slug


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
        ("billing\n", False),
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

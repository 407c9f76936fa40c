"""The settings catalogue (extensions/settings.py) that config.py, .env.example, .env, the
Kubernetes ConfigMap and Secret, compose and CI are rendered from.

Each file holds the catalogue's settings by construction; these tests check the catalogue itself,
for every variant of the matrix, without rendering: its rows are well formed, a setting the
service cannot start without is given by every environment it runs in, and credentials stay out
of committed files. tests/test_render.py and tests/test_kubernetes.py read the rendered files.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest
from harness.matrix import to_answers, to_row, variants
from harness.template import TEMPLATE_ROOT, load_module

CONTEXT: Any = load_module(
    "template_extensions_context", TEMPLATE_ROOT / "extensions" / "context.py"
)
# The module context.py loaded: the one whose rows the hook derives from.
SETTINGS: Any = CONTEXT.load_sibling("settings")
URL_WITH_USER_INFO = re.compile(r"://[^/@\s]+@")
# The Python type of a default, by the annotation's outer type.
DEFAULT_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "list": list, "dict": dict}


def derived(answers: dict[str, Any]) -> dict[str, Any]:
    """The context the templates see for `answers` (copier's defaults filled in)."""
    context = {"project_name": "Svc", "project_slug": "svc", **to_answers(to_row(answers))}
    hook = object.__new__(CONTEXT.DerivedValues)  # the hook needs no Jinja environment
    hook.hook(context)
    return context


VARIANTS = variants()


@pytest.fixture(params=sorted(VARIANTS), scope="module")
def context(request: pytest.FixtureRequest) -> dict[str, Any]:
    return derived(VARIANTS[request.param])


def active(context: dict[str, Any]) -> list[Any]:
    python_string = CONTEXT.load_sibling("encoding").python_string
    groups = SETTINGS.active_groups(context, python_string)
    return [setting for _, settings in groups for setting in settings]


def rows() -> list[Any]:
    return [setting for group in SETTINGS.CATALOGUE for setting in group.settings]


def test_rows_are_well_formed() -> None:
    names = [setting.name for setting in rows()]
    assert len(names) == len(set(names)), f"settings listed twice: {names}"
    problems = []
    for setting in rows():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", setting.name):
            problems.append(f"{setting.name}: not an environment variable name")
        if setting.annotation is None:
            continue
        annotation = ast.parse(setting.annotation, mode="eval").body
        optional = isinstance(annotation, ast.BinOp) and ast.unparse(annotation.right) == "None"
        outer = ast.unparse(annotation.left if optional else annotation).split("[")[0]
        default = setting.default
        if callable(default):
            continue  # depends on the answers: checked per variant below
        if isinstance(default, SETTINGS.Unset) != optional:
            problems.append(f"{setting.name}: unset by default exactly when it may be None")
        if isinstance(default, SETTINGS.Required) and setting.placeholder is None:
            problems.append(f"{setting.name}: required, but .env.example shows no placeholder")
        expected = DEFAULT_TYPES.get(outer)
        plain = not isinstance(default, SETTINGS.Required | SETTINGS.Unset)
        if expected and plain and type(default) is not expected:
            problems.append(f"{setting.name}: default {default!r} is not a {outer}")
    assert not problems, "\n".join(problems)


def test_required_settings_are_given_by_every_environment(context: dict[str, Any]) -> None:
    """A setting without a default stops the service where it is missing: every place the
    service runs gets it (a developer's .env, the compose stack, CI, Kubernetes' Secret)."""
    problems = []
    for setting in active(context):
        if not setting.required:
            continue
        described = setting.describe()
        if not described["dotenv"]:
            problems.append(f"{setting.name}: the generated .env does not set it")
        compose = context["compose_environment"].get(setting.name, "")
        if ":?" not in compose:
            problems.append(f"{setting.name}: compose neither sets it nor refuses to start without")
        if context["ci_config_file"] and setting.name not in context["ci_environment"]:
            problems.append(f"{setting.name}: the CI test job does not set it")
        if context.get("deploy_target") == "kubernetes" and not (
            setting.secret or described["kubernetes"]
        ):
            problems.append(f"{setting.name}: neither the ConfigMap nor the Secret holds it")
    assert not problems, "\n".join(problems)


def test_credentials_stay_out_of_committed_files(context: dict[str, Any]) -> None:
    problems = []
    for setting in active(context):
        values = [setting.default, setting.get("in_stack"), setting.get("kubernetes")]
        if any(URL_WITH_USER_INFO.search(str(v)) for v in values if v) and not setting.secret:
            problems.append(f"{setting.name}: a URL with a password, but not a secret")
        if not setting.secret:
            continue
        configmap = setting.describe()["kubernetes"] or ""
        if re.search(rf"^{setting.name}=", configmap, re.MULTILINE):
            problems.append(f"{setting.name}: a secret with a value in the ConfigMap")
        ci = context["ci_environment"].get(setting.name)
        if setting.required and ci is not None and "ci-only" not in ci:
            problems.append(f"{setting.name}: CI's value does not say it is CI's only")
    assert not problems, "\n".join(problems)


def test_each_file_has_every_setting(context: dict[str, Any]) -> None:
    """What each file lists, against the catalogue: config.py every field, .env.example every
    setting but the fixed ones, Kubernetes every setting with a value (the Secret's included)."""
    settings = active(context)
    groups = context["settings_groups"]
    fields = "\n".join(f for group in groups for f in group["fields"])
    declared = {name.upper() for name in re.findall(r"^    (\w+):", fields, re.MULTILINE)}
    assert declared == {s.name for s in settings if s.setting.annotation}
    examples = "\n".join(e for group in groups for e in group["examples"])
    documented = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", examples, re.MULTILINE))
    assert documented == {s.name for s in settings if not s.setting.internal}
    configmap = "\n".join(k for group in groups for k in group["kubernetes"])
    configured = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", configmap, re.MULTILINE))
    with_value = {
        s.name
        for s in settings
        if not s.setting.internal and not isinstance(s.default, SETTINGS.Unset)
    }
    assert with_value <= configured | set(context["secret_settings"])
    assert not configured & set(context["secret_settings"])


@pytest.mark.parametrize(
    ("value", "dotenv", "yaml"),
    [
        (True, "true", '"true"'),
        (5.0, "5", '"5"'),
        (["RS256"], "'[\"RS256\"]'", '"[\\"RS256\\"]"'),
        ({}, "{}", '"{}"'),
        ("redis://redis:6379/0", "redis://redis:6379/0", "redis://redis:6379/0"),
        ("${KEY:?set it}", "${KEY:?set it}", '"${KEY:?set it}"'),
    ],
)
def test_values_are_written_in_each_syntax(value: Any, dotenv: str, yaml: str) -> None:
    assert SETTINGS.dotenv_text(value) == dotenv
    assert SETTINGS.yaml_text(value) == yaml

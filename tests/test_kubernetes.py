"""Kubernetes tier: deploy_target=kubernetes renders kustomize manifests that work offline.

The project is rendered once per value of the broker and cache questions in copier.yml. Every
base manifest, and every overlay as kustomize builds it, is validated with
`kubernetes-validate --strict` against the newest Kubernetes the package bundles and against the
oldest the manifests support. Overlays are built by a standalone `kustomize` or the one inside
`kubectl`; without either, the tests that need a build skip (and fail in CI). The other tests
read the rendered files and compare them with the project they deploy: probe paths with the
health router, the API command with the Dockerfile's CMD, the ConfigMap with the settings class.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import render_checks
from harness.availability import unavailable
from harness.files import load_yaml_documents, parse_env_file
from harness.matrix import dimensions
from harness.processes import run, tool
from harness.rendering import assert_rendered

MANIFESTS = Path("deploy", "kubernetes")
OVERLAYS = ("staging", "production")
# The oldest Kubernetes release the manifests promise to work with (deploy/kubernetes/README.md).
OLDEST_KUBERNETES = "1.30"
# Questions whose every value is rendered: they decide which workloads and settings exist.
VARIED_QUESTIONS = ("broker", "cache", "auth")
API_PROBES = {"livenessProbe": "/health/live", "readinessProbe": "/health/ready"}
WORKLOAD_KINDS = frozenset({"Deployment", "Job"})
CLUSTER_SCOPED_KINDS = frozenset({"Namespace"})
# Keys and values that must never sit in a ConfigMap.
CREDENTIAL_KEY = re.compile(r"SECRET|PASSWORD|TOKEN$|^DATABASE_URL$")
URL_WITH_USER_INFO = re.compile(r"://[^/@\s]+@")
# A required key of the Secret, as deploy/kubernetes/README.md lists it.
README_SECRET_KEY = re.compile(r"^- `([A-Z][A-Z0-9_]*)`$", re.MULTILINE)
# Read from the environment by uvicorn, not by the Settings class.
SERVER_SETTINGS = frozenset({"FORWARDED_ALLOW_IPS"})
DOCKERFILE_CMD = re.compile(r"^CMD\s+(\[.*\])\s*$", re.MULTILINE)
DOCKERFILE_USER = re.compile(r"^USER\s+(\d+)(?::\d+)?\s*$", re.MULTILINE)


# ---------------------------------------------------------------- rendering


def _render_params() -> list[Any]:
    """One render per value of each question that shapes the manifests (the default render
    included), so a value added to copier.yml is deployed by these tests at once."""
    params: list[Any] = []
    for question in VARIED_QUESTIONS:
        default, *others = dimensions()[question]
        for value in others if params else [default, *others]:
            name = f"{question}-{value}"
            marks = pytest.mark.xdist_group(f"k8s-{name}")
            params.append(pytest.param((question, value), id=name, marks=marks))
    return params


@pytest.fixture(scope="session")
def render_kubernetes(copie_session: Any) -> Callable[[tuple[str, str]], Path]:
    """Render deploy_target=kubernetes with one answer changed, once per session (per worker)."""
    projects: dict[tuple[str, str], Path] = {}

    def _render(answer: tuple[str, str]) -> Path:
        if answer not in projects:
            answers = {"deploy_target": "kubernetes", answer[0]: answer[1]}
            result = copie_session.copy(extra_answers=answers)
            projects[answer] = assert_rendered(result, f"the kubernetes render with {answers}")
        return projects[answer]

    return _render


@pytest.fixture(params=_render_params())
def project(
    request: pytest.FixtureRequest, render_kubernetes: Callable[[tuple[str, str]], Path]
) -> Path:
    return render_kubernetes(request.param)


# ---------------------------------------------------------------- reading manifests


def answers_of(project: Path) -> dict[str, Any]:
    answers = load_yaml_documents((project / ".copier-answers.yml").read_text())[0]
    assert isinstance(answers, dict)
    return answers


def load_objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in load_yaml_documents(path.read_text()) if doc]


def kustomization(directory: Path) -> dict[str, Any]:
    return load_objects(directory / "kustomization.yaml")[0]


def base_files(project: Path) -> list[Path]:
    """The base's manifests, in the order its kustomization lists them."""
    base = project / MANIFESTS / "base"
    return [base / entry for entry in kustomization(base)["resources"]]


def base_objects(project: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (obj["kind"], obj["metadata"]["name"]): obj
        for path in base_files(project)
        for obj in load_objects(path)
    }


def pod_specs(objects: dict[tuple[str, str], dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    for (kind, name), obj in objects.items():
        if kind in WORKLOAD_KINDS:
            yield f"{kind}/{name}", obj["spec"]["template"]["spec"]


def containers(objects: dict[tuple[str, str], dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    for where, spec in pod_specs(objects):
        for container in spec["containers"]:
            yield f"{where}/{container['name']}", container


def container(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = objects[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
    return found


def config_env(project: Path) -> dict[str, str]:
    """base/config.env, the source of the ConfigMap, read as kustomize reads it."""
    values = {}
    for line in (project / MANIFESTS / "base" / "config.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def secret_keys(project: Path) -> set[str]:
    return set(README_SECRET_KEY.findall((project / MANIFESTS / "README.md").read_text()))


def settings_fields(project: Path) -> set[str]:
    """Environment variable names of the generated Settings class."""
    tree = ast.parse((project / "app" / "core" / "config.py").read_text())
    (settings,) = (
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    return {
        statement.target.id.upper()
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    }


def served_paths(project: Path) -> set[str]:
    """GET paths of the health router: its prefix joined with each route's path."""
    tree = ast.parse((project / "app" / "api" / "health.py").read_text())
    prefix = ""
    paths: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "APIRouter":
            for keyword in node.keywords:
                if keyword.arg == "prefix" and isinstance(keyword.value, ast.Constant):
                    prefix = str(keyword.value.value)
        elif (
            isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "router"
            and node.func.attr == "get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            paths.add(str(node.args[0].value))
    main = (project / "app" / "main.py").read_text()
    assert "include_router(health_router)" in main, "the health router is not mounted at /"
    return {prefix + path for path in paths}


def dockerfile(project: Path) -> str:
    return (project / "Dockerfile").read_text()


# ---------------------------------------------------------------- tools


def kustomize_command() -> list[str]:
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    unavailable("neither kustomize nor kubectl (which has kustomize built in) is on PATH")


@functools.cache
def _build(overlay_dir: Path) -> str:
    return run([*kustomize_command(), "."], cwd=overlay_dir, step="kustomize build").stdout


def build(project: Path, overlay: str) -> list[dict[str, Any]]:
    return [
        doc
        for doc in load_yaml_documents(_build(project / MANIFESTS / "overlays" / overlay))
        if doc
    ]


def validate(files: list[Path], cwd: Path) -> None:
    """kubernetes-validate --strict at both ends of the supported versions; an object whose
    kind has no schema (a typo in kind or apiVersion) only warns there, so it fails here."""
    for version in ([], ["--kubernetes-version", OLDEST_KUBERNETES]):
        result = run(
            [tool("kubernetes-validate"), "--strict", "--quiet", *version, *files],
            cwd=cwd,
            step="kubernetes-validate",
        )
        assert "WARN" not in result.stdout, result.stdout


# ---------------------------------------------------------------- the render


@pytest.mark.xdist_group("render-default")
def test_compose_render_has_no_deploy_folder(default_project: Path) -> None:
    assert answers_of(default_project)["deploy_target"] == "compose"
    assert not (default_project / "deploy").exists(), "deploy_target=compose rendered deploy/"
    assert (default_project / "compose.yaml").is_file()


def test_render_is_clean(project: Path) -> None:
    """The render tier's conventions hold for this render too (deploy/ included)."""
    assert (project / "compose.yaml").is_file(), "compose.yaml is always generated"
    render_checks.assert_no_jinja_left(project)
    render_checks.assert_whitespace(project)
    render_checks.assert_no_empty_files(project)
    render_checks.assert_no_template_only_files(project)
    render_checks.assert_yaml_files_parse(project)


def test_kustomizations_reference_existing_files(project: Path) -> None:
    root = project / MANIFESTS
    base = root / "base"
    listed = set(base_files(project))
    manifests = {path for path in base.glob("*.yaml") if path.name != "kustomization.yaml"}
    assert listed == manifests, (
        f"base/kustomization.yaml lists {sorted(p.name for p in listed)}, "
        f"base/ holds {sorted(p.name for p in manifests)}"
    )
    for directory in (base, *(root / "overlays" / overlay for overlay in OVERLAYS)):
        config = kustomization(directory)
        for entry in config.get("resources", []):
            target = directory / entry
            assert target.is_file() or (target / "kustomization.yaml").is_file(), (
                f"{directory.relative_to(project)} lists {entry}, which does not exist"
            )
        for generator in config.get("configMapGenerator", []):
            for env_file in generator.get("envs", []):
                assert (directory / env_file).is_file(), f"{env_file} is missing"
        for patch in config.get("patches", []):
            if "path" in patch:
                assert (directory / patch["path"]).is_file(), f"{patch['path']} is missing"


def test_base_manifests_validate(project: Path) -> None:
    validate(base_files(project), cwd=project / MANIFESTS / "base")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_validates(project: Path, overlay: str, tmp_path: Path) -> None:
    objects = build(project, overlay)
    built = tmp_path / f"{overlay}.yaml"
    built.write_text(_build(project / MANIFESTS / "overlays" / overlay))
    validate([built], cwd=tmp_path)

    slug = answers_of(project)["project_slug"]
    namespace = f"{slug}-{overlay}"
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
        if obj["kind"] not in CLUSTER_SCOPED_KINDS:
            assert obj["metadata"].get("namespace") == namespace, (
                f"{obj['kind']}/{obj['metadata']['name']} is not in {namespace}"
            )
    assert [ns["metadata"]["name"] for ns in by_kind["Namespace"]] == [namespace]
    assert "Secret" not in by_kind, "an overlay defines a Secret"

    (config_map,) = by_kind["ConfigMap"]
    assert config_map["data"]["ENVIRONMENT"] == overlay, f"ENVIRONMENT is not {overlay}"
    config_names = {config_map["metadata"]["name"]}

    images = set()
    for spec in (
        obj["spec"]["template"]["spec"] for obj in objects if obj["kind"] in WORKLOAD_KINDS
    ):
        for item in spec["containers"]:
            images.add(item["image"])
            refs = {ref["configMapRef"]["name"] for ref in item["envFrom"] if "configMapRef" in ref}
            assert refs == config_names, (
                f"{item['name']} reads {refs}, the build has {config_names}"
            )
    assert len(images) == 1, f"the workloads run different images: {sorted(images)}"
    image = images.pop()
    name, _, tag = image.rpartition(":")
    assert name.endswith(f"/{slug}") and tag and tag != "latest", f"unpinned image {image!r}"

    deployments = {obj["metadata"]["name"]: obj for obj in by_kind["Deployment"]}
    (hpa,) = by_kind["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    if overlay == "production":
        assert hpa["spec"]["minReplicas"] >= 2, "production runs a single API pod"
    api_labels = deployments[f"{slug}-api"]["spec"]["template"]["metadata"]["labels"]
    (service,) = by_kind["Service"]
    (pdb,) = by_kind["PodDisruptionBudget"]
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= api_labels.items(), f"{selector} does not select the API pods"


# ---------------------------------------------------------------- the manifests match the app


def test_probes_target_served_routes(project: Path) -> None:
    served = served_paths(project)
    assert set(API_PROBES.values()) <= served, f"the app serves {sorted(served)}"
    api = container(base_objects(project), f"{answers_of(project)['project_slug']}-api")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    for probe, path in API_PROBES.items():
        assert api[probe]["httpGet"]["path"] == path, f"{probe} does not probe {path}"
    for probe in ("startupProbe", *API_PROBES):
        http = api[probe]["httpGet"]
        assert http["path"] in served, f"{probe} probes {http['path']}, which the app lacks"
        assert ports.get(http["port"], http["port"]) == 8000, f"{probe} probes another port"


def test_api_command_is_the_dockerfile_cmd(project: Path) -> None:
    commands = DOCKERFILE_CMD.findall(dockerfile(project))
    assert commands, "the Dockerfile has no CMD in exec form"
    cmd = json.loads(commands[-1])
    api = container(base_objects(project), f"{answers_of(project)['project_slug']}-api")
    assert api["command"] + api.get("args", []) == cmd, "the API runs another command than CMD"


def test_api_believes_forwarded_headers_only_from_listed_proxies(project: Path) -> None:
    """uvicorn takes X-Forwarded-For from the peers in FORWARDED_ALLOW_IPS only: the command
    leaves the list to the ConfigMap, and the ConfigMap does not list every peer."""
    api = container(base_objects(project), f"{answers_of(project)['project_slug']}-api")
    command = api["command"] + api.get("args", [])
    assert "--forwarded-allow-ips" not in command, "the command overrides FORWARDED_ALLOW_IPS"
    trusted = config_env(project)["FORWARDED_ALLOW_IPS"].split(",")
    assert "*" not in trusted, "every peer may set the client address"


def test_api_service_autoscaler_and_disruption_budget(project: Path) -> None:
    slug = answers_of(project)["project_slug"]
    objects = base_objects(project)
    api = container(objects, f"{slug}-api")
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}

    service = objects[("Service", f"{slug}-api")]
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert ports.get(port["targetPort"], port["targetPort"]) == 8000

    hpa = objects[("HorizontalPodAutoscaler", f"{slug}-api")]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{slug}-api",
    }
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    deployment = objects[("Deployment", f"{slug}-api")]
    assert "replicas" not in deployment["spec"], "the autoscaler owns the API's replica count"

    pdb = objects[("PodDisruptionBudget", f"{slug}-api")]
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_pods_are_locked_down(project: Path) -> None:
    slug = answers_of(project)["project_slug"]
    uid = int(DOCKERFILE_USER.findall(dockerfile(project))[-1])
    objects = base_objects(project)
    account = objects[("ServiceAccount", slug)]
    assert account["automountServiceAccountToken"] is False

    for where, spec in pod_specs(objects):
        assert spec["serviceAccountName"] == slug, f"{where} runs as another service account"
        assert spec["automountServiceAccountToken"] is False, f"{where} mounts an API token"
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for item in spec["containers"]:
            name = f"{where}/{item['name']}"
            context = {**spec.get("securityContext", {}), **item.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, f"{name} may run as root"
            assert context.get("runAsUser") == uid, f"{name} is not the image's user {uid}"
            assert context.get("readOnlyRootFilesystem") is True, f"{name} can write its image"
            assert context.get("allowPrivilegeEscalation") is False, f"{name} may escalate"
            assert context.get("capabilities", {}).get("drop") == ["ALL"], f"{name} keeps caps"
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, name
            mounts = {mount["mountPath"]: mount["name"] for mount in item.get("volumeMounts", [])}
            assert "emptyDir" in volumes.get(mounts.get("/tmp"), {}), f"{name}: no writable /tmp"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= item["resources"][bound].keys(), f"{name}: {bound}"


def test_secret_is_referenced_never_defined(project: Path) -> None:
    slug = answers_of(project)["project_slug"]
    for path in (project / MANIFESTS).rglob("*.yaml"):
        for obj in load_objects(path):
            assert obj.get("kind") != "Secret", f"{path.relative_to(project)} defines a Secret"
    for name, item in containers(base_objects(project)):
        sources = [next(iter(source)) for source in item["envFrom"]]
        assert sources == ["configMapRef", "secretRef"], f"{name}: the Secret must come last"
        assert item["envFrom"][1]["secretRef"] == {"name": f"{slug}-secrets"}, name
        assert "env" not in item, f"{name} sets variables outside the ConfigMap and the Secret"


def test_settings_reach_the_pods(project: Path) -> None:
    """Each setting the project documents comes from the ConfigMap or the Secret, and the
    ConfigMap holds no credentials nor settings the project does not have."""
    config = config_env(project)
    secrets = secret_keys(project)
    fields = settings_fields(project)
    if answers_of(project).get("auth") == "jwt":
        assert "SECRET_KEY" in secrets
    if answers_of(project).get("orm", "none") != "none":
        assert "DATABASE_URL" in secrets
    assert not config.keys() & secrets, "a key is both in the ConfigMap and the Secret"
    unknown = config.keys() - fields - SERVER_SETTINGS
    assert not unknown, f"not settings: {sorted(unknown)}"
    assert secrets <= fields, f"not settings: {sorted(secrets - fields)}"
    documented = parse_env_file(project / ".env.example").keys() & fields
    missing = documented - config.keys() - secrets
    assert not missing, f"settings neither in base/config.env nor in the Secret: {missing}"
    for key, value in config.items():
        assert not CREDENTIAL_KEY.search(key), f"{key} is a credential in the ConfigMap"
        assert not URL_WITH_USER_INFO.search(value), f"{key} carries credentials: {value}"


# ---------------------------------------------------------------- jobs and Celery


def test_migration_job(project: Path) -> None:
    slug = answers_of(project)["project_slug"]
    objects = base_objects(project)
    job = objects.get(("Job", f"{slug}-migrate"))
    has_database = answers_of(project).get("orm", "none") != "none"
    assert (job is not None) == has_database, "a migration Job exists iff there is a database"
    if job is None:
        return
    spec = job["spec"]
    (item,) = spec["template"]["spec"]["containers"]
    assert item["command"] + item.get("args", []) == ["alembic", "upgrade", "head"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert isinstance(spec["backoffLimit"], int)
    assert isinstance(spec["ttlSecondsAfterFinished"], int)


def compose_command(project: Path, service: str) -> list[str] | None:
    compose = load_yaml_documents((project / "compose.yaml").read_text())[0]
    command = compose["services"].get(service, {}).get("command")
    return command if isinstance(command, list) else None


def test_celery_workloads_follow_the_broker(project: Path) -> None:
    answers = answers_of(project)
    slug = answers["project_slug"]
    objects = base_objects(project)
    has_celery = answers["broker"] != "none"
    for component in ("worker", "beat"):
        present = ("Deployment", f"{slug}-{component}") in objects
        assert present == has_celery, f"{component}: present={present}, broker={answers['broker']}"
    production = kustomization(project / MANIFESTS / "overlays" / "production")
    replicas = {entry["name"] for entry in production.get("replicas", [])}
    assert (f"{slug}-worker" in replicas) == has_celery
    if not has_celery:
        return

    beat = objects[("Deployment", f"{slug}-beat")]
    assert beat["spec"]["replicas"] == 1, "a second beat fires every periodic task twice"
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    compose_beat = compose_command(project, "beat")
    assert container(objects, f"{slug}-beat")["command"] == compose_beat, (
        "beat runs another command than in compose.yaml"
    )

    worker = container(objects, f"{slug}-worker")
    compose_worker = compose_command(project, "worker")
    assert compose_worker, "compose.yaml has no worker command"
    assert worker["command"][: len(compose_worker)] == compose_worker
    probe = worker["livenessProbe"]["exec"]["command"]
    assert probe[:2] == ["sh", "-c"], "exec probes have no shell to expand $HOSTNAME"
    assert "celery -A app.core.celery_app inspect ping -d celery@$HOSTNAME" in probe[2]

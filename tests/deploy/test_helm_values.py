"""helm-values/ for the official dagster/dagster chart: valid against the chart's
schemas (merged with its defaults, Kubernetes references served offline), no
key the schema would let through misspelt, and wired to the kustomize side."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "helm-values"
ENVIRONMENTS = ["dev", "staging", "prod"]
CHART = Path("data") / "dagster-chart"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    return data


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return copy.deepcopy(override)


def _ours(env: str) -> dict[str, Any]:
    merged: dict[str, Any] = _merge(
        _load(VALUES / "values.yaml"), _load(VALUES / f"values-{env}.yaml")
    )
    return merged


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas ``node`` may stand for: local ``$ref``s followed, ``anyOf`` opened."""
    if "$ref" in node and node["$ref"].startswith("#/$defs/"):
        return _resolve(schema, schema["$defs"][node["$ref"].removeprefix("#/$defs/")])
    if "anyOf" in node:
        return [s for branch in node["anyOf"] for s in _resolve(schema, branch)]
    return [node] if node.get("type") == "object" or "properties" in node else []


def _unknown_keys(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str) -> list[str]:
    """Keys of ``value`` that no schema property names, where the schema does not say
    that extra keys are allowed (it often says nothing, and then anything passes);
    known keys are followed down in any case."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            found = []
            for candidate in _resolve(schema, node) or [node]:
                items = candidate.get("items")
                if isinstance(items, dict):
                    for i, item in enumerate(value):
                        found += _unknown_keys(schema, items, item, f"{path}[{i}]")
            for branch in node.get("anyOf", []):
                if branch.get("type") == "array" and isinstance(branch.get("items"), dict):
                    for i, item in enumerate(value):
                        found += _unknown_keys(schema, branch["items"], item, f"{path}[{i}]")
            return found
        return []
    candidates = [c for c in _resolve(schema, node) if "properties" in c]
    if not candidates:
        return []
    known = {key for c in candidates for key in c["properties"]}
    open_ended = any(c.get("additionalProperties") is True for c in candidates)
    found = [] if open_ended else [f"{path}.{key}" for key in value if key not in known]
    for key, child in value.items():
        for candidate in candidates:
            if key in candidate["properties"]:
                found += _unknown_keys(schema, candidate["properties"][key], child, f"{path}.{key}")
                break
    return found


@pytest.fixture(scope="module")
def chart(shared: Path) -> dict[str, Any]:
    folder = shared / CHART
    return {
        "defaults": _load(folder / "values.yaml"),
        "schema": json.loads((folder / "values.schema.json").read_text()),
    }


def test_values_validate_against_the_chart_schemas(
    shared: Path, tool: Callable[[str], Path], run: Callable[..., Any]
) -> None:
    # jsonschema and referencing live in the deploy tools' environment.
    result = run(
        tool("deploy-python"), REPO / "tests" / "deploy" / "chart_values.py", shared, *ENVIRONMENTS
    )
    assert "valid against the chart schemas for: dev, staging, prod" in result.stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_top_level_keys_exist_in_the_chart(env: str, chart: dict[str, Any]) -> None:
    for path in (VALUES / "values.yaml", VALUES / f"values-{env}.yaml"):
        unknown = set(_load(path)) - set(chart["defaults"])
        assert not unknown, f"{path.name}: not chart values (misspelt?): {sorted(unknown)}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_key_the_schema_does_not_know(env: str, chart: dict[str, Any]) -> None:
    schema = chart["schema"]
    assert _unknown_keys(schema, schema, _ours(env), "values") == []


def test_the_unknown_key_check_catches_misspellings(chart: dict[str, Any]) -> None:
    schema = chart["schema"]
    bad = _ours("prod")
    bad["postgresql"]["postgresqlHots"] = "db"
    bad["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArg"] = ["-m", "x"]
    assert sorted(_unknown_keys(schema, schema, bad, "values")) == [
        "values.dagster-user-deployments.deployments[0].dagsterApiGrpcArg",
        "values.postgresql.postgresqlHots",
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_code_location_served_from_the_pipelines_image(env: str) -> None:
    section = _ours(env)["dagster-user-deployments"]
    assert section["enabled"] is True and section["enableSubchart"] is True
    (deployment,) = section["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "examstutor_pipelines.definitions"]
    assert "codeServerArgs" not in deployment
    assert deployment["port"] == 3030
    assert deployment["image"]["repository"].endswith("/examstutor-pipelines")
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert deployment["envConfigMaps"] == [{"name": "examstutor-config"}]
    assert deployment["envSecrets"] == [{"name": "examstutor-pipelines-secrets"}]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_runs_are_kubernetes_jobs_beside_the_export_volume(
    env: str, objects: Callable[[str], list[dict[str, Any]]]
) -> None:
    values = _ours(env)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    (namespace,) = [d for d in objects(env) if d["kind"] == "Namespace"]
    assert launcher["jobNamespace"] == namespace["metadata"]["name"] == f"examstutor-{env}"
    assert launcher["envConfigMaps"] == [{"name": "examstutor-config"}]
    assert launcher["envSecrets"] == [{"name": "examstutor-pipelines-secrets"}]
    config = next(d for d in objects(env) if d["kind"] == "ConfigMap")["data"]
    (mount,) = launcher["volumeMounts"]
    assert mount["mountPath"] == config["EXAMSTUTOR_EXPORT_DIR"]
    (volume,) = launcher["volumes"]
    assert volume == {
        "name": mount["name"],
        "persistentVolumeClaim": {"claimName": "examstutor-exports"},
    }
    assert launcher["securityContext"]["readOnlyRootFilesystem"] is True
    assert launcher["runK8sConfig"]["podSpecConfig"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_storage_on_external_postgres_with_the_password_from_a_secret(env: str) -> None:
    values = _ours(env)
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlHost"]
    assert values["postgresql"]["postgresqlPassword"] == ""
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["generatePostgresqlPasswordSecret"] is False
    template = (REPO / "k8s" / "base" / "secrets.template.yaml").read_text()
    secret = values["global"]["postgresqlSecretName"]
    assert f"create secret generic {secret}" in template
    assert "--from-literal=postgresql-password=" in template


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [pair for i, v in enumerate(node) for pair in _strings(v, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_value_in_the_values(env: str) -> None:
    for path, value in _strings(_ours(env)):
        if any(word in path.lower() for word in ("password", "secretkey", "token")):
            assert value == "", f"{path} holds a value: secrets come from Kubernetes Secrets"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_daemon_runs_schedules_sensors_and_monitors_runs(env: str) -> None:
    daemon = _ours(env)["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runMonitoring"]["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["schedules"] and daemon["sensors"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_dagster_pod_is_hardened(env: str) -> None:
    values = _ours(env)
    (code,) = values["dagster-user-deployments"]["deployments"]
    for name, part in (
        ("webserver", values["dagsterWebserver"]),
        ("daemon", values["dagsterDaemon"]),
        ("code server", code),
    ):
        pod, container = part["podSecurityContext"], part["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 1000, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert container["readOnlyRootFilesystem"] is True, name
        assert container["allowPrivilegeEscalation"] is False, name
        assert container["capabilities"] == {"drop": ["ALL"]}, name
        assert set(part["resources"]) == {"requests", "limits"}, name
        assert {m["mountPath"] for m in part["volumeMounts"]} >= {"/tmp"}, name
    assert values["telemetry"] == {"enabled": False}

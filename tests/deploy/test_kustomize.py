"""The kustomize overlays: they render, every object passes strict schema
validation, and they say what the Epic and CONTRACT §3 ask."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from examstutor_platform.settings import SECRET_VARIABLES

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "staging", "prod")
# CONTRACT §3: every configuration variable, split between ConfigMap and Secret.
CONTRACT_VARIABLES = {
    "EXAMSTUTOR_ENV",
    "EXAMSTUTOR_HOME",
    "EXAMSTUTOR_DATABASE_URL",
    "EXAMSTUTOR_KEKS",
    "EXAMSTUTOR_INDEX_KEY",
    "EXAMSTUTOR_PSEUDONYM_KEY",
    "EXAMSTUTOR_SIGNING_KEY",
    "EXAMSTUTOR_JWT_SECRET",
    "EXAMSTUTOR_EXPORT_DIR",
    "EXAMSTUTOR_TIMEZONE",
    "EXAMSTUTOR_DSR_DAYS",
}
SECRET_KEYS = {"EXAMSTUTOR_DATABASE_URL", *SECRET_VARIABLES}

Docs = list[dict[str, Any]]
Pick = Callable[[Docs, str, str], dict[str, Any]]


def _kinds(docs: Docs, kind: str) -> Docs:
    return [d for d in docs if d["kind"] == kind]


def _secret_template() -> dict[str, dict[str, Any]]:
    path = REPO / "k8s" / "base" / "secrets.template.yaml"
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(path.read_text()) if d}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_in_the_environment_namespace(
    overlay: str, objects: Callable[[str], Docs]
) -> None:
    docs = objects(overlay)
    namespace = f"examstutor-{overlay}"
    assert [d["metadata"]["name"] for d in _kinds(docs, "Namespace")] == [namespace]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace, doc["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict_passes_every_object(
    overlay: str,
    render: Callable[[str], str],
    objects: Callable[[str], Docs],
    tool: Callable[[str], Path],
    run: Callable[..., Any],
    tmp_path: Path,
) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(render(overlay))
    result = run(tool("kubernetes-validate"), "--strict", manifest, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    bad = [line for line in lines if line.startswith(("WARN", "ERROR"))]
    assert result.returncode == 0 and not bad, "\n".join(lines)
    passed = [line for line in lines if line.startswith("INFO") and " passed " in line]
    assert len(passed) == len(objects(overlay)), "\n".join(lines)


def test_secret_template_names_exactly_the_contract_secrets_and_holds_no_value(
    tool: Callable[[str], Path], run: Callable[..., Any]
) -> None:
    template = _secret_template()
    assert set(template) == {
        "examstutor-secrets",
        "examstutor-migrate-db",
        "examstutor-pipelines-secrets",
        "dagster-postgresql",
    }
    assert set(template["examstutor-secrets"]["stringData"]) == SECRET_KEYS
    assert set(template["examstutor-migrate-db"]["stringData"]) == {"EXAMSTUTOR_DATABASE_URL"}
    # The pipelines sign no tokens: they get every secret but the JWT one.
    assert set(template["examstutor-pipelines-secrets"]["stringData"]) == SECRET_KEYS - {
        "EXAMSTUTOR_JWT_SECRET"
    }
    for secret in template.values():
        assert "data" not in secret
        assert all(value == "" for value in secret["stringData"].values())
    text = (REPO / "k8s" / "base" / "secrets.template.yaml").read_text()
    for name in template:
        assert f"create secret generic {name}" in text, f"no documented command for {name}"
    assert "examstutor keys new-kek" in text
    # never applied: not a kustomize resource
    base = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    assert "secrets.template.yaml" not in base["resources"]
    result = run(
        tool("kubernetes-validate"),
        "--strict",
        REPO / "k8s" / "base" / "secrets.template.yaml",
        check=False,
    )
    assert result.returncode == 0 and "WARN" not in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configmap_and_secret_cover_contract_section_3(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    config = pick(docs, "ConfigMap", "examstutor-config")["data"]
    assert set(config) | SECRET_KEYS == CONTRACT_VARIABLES
    assert not set(config) & SECRET_KEYS, "a secret in the ConfigMap"
    assert config["EXAMSTUTOR_ENV"] == overlay
    assert config["EXAMSTUTOR_TIMEZONE"] == "Africa/Lagos"
    assert not _kinds(docs, "Secret"), "Secrets are created by hand, never rendered"


def _api_pod(docs: Docs, pick: Pick) -> dict[str, Any]:
    return pick(docs, "Deployment", "examstutor-api")["spec"]["template"]["spec"]


def _assert_hardened(pod: dict[str, Any]) -> None:
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
        assert container["envFrom"][0] == {"configMapRef": {"name": "examstutor-config"}}
        assert container["envFrom"][1] == {"secretRef": {"name": "examstutor-secrets"}}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment_probes_resources_and_security(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    pod = _api_pod(docs, pick)
    _assert_hardened(pod)
    (api,) = pod["containers"]
    assert api["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["livenessProbe"]["initialDelaySeconds"] == 60
    assert api["livenessProbe"]["periodSeconds"] == 30
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert api["readinessProbe"]["initialDelaySeconds"] == 30
    assert api["readinessProbe"]["periodSeconds"] == 10
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    expected = {
        "dev": ({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1000m", "memory": "2Gi"}),
        "staging": ({"cpu": "750m", "memory": "1536Mi"}, {"cpu": "1500m", "memory": "3Gi"}),
        "prod": ({"cpu": "1000m", "memory": "2Gi"}, {"cpu": "2000m", "memory": "4Gi"}),
    }[overlay]
    assert (api["resources"]["requests"], api["resources"]["limits"]) == expected
    account = pick(docs, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_export_volume_is_mounted_read_only_at_the_export_dir(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    export_dir = pick(docs, "ConfigMap", "examstutor-config")["data"]["EXAMSTUTOR_EXPORT_DIR"]
    pod = _api_pod(docs, pick)
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == export_dir]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"] == {"claimName": "examstutor-exports", "readOnly": True}
    claim = pick(docs, "PersistentVolumeClaim", "examstutor-exports")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize(("overlay", "replicas"), [("dev", 1), ("staging", 2), ("prod", None)])
def test_replicas_per_environment(
    overlay: str, replicas: int | None, objects: Callable[[str], Docs], pick: Pick
) -> None:
    deployment = pick(objects(overlay), "Deployment", "examstutor-api")
    # prod: the HPA owns the count (3 to 10); the manifest must not reset it.
    assert deployment["spec"].get("replicas") == replicas


def test_prod_hpa_scales_3_to_10_on_cpu_and_memory_with_the_epic_behaviour(
    objects: Callable[[str], Docs], pick: Pick
) -> None:
    spec = pick(objects("prod"), "HorizontalPodAutoscaler", "examstutor-api-hpa")["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "examstutor-api",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 10)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
    assert targets == {
        "cpu": {"type": "Utilization", "averageUtilization": 70},
        "memory": {"type": "Utilization", "averageUtilization": 80},
    }
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["selectPolicy"] == "Max"
    assert {(p["type"], p["value"], p["periodSeconds"]) for p in up["policies"]} == {
        ("Percent", 100, 30),
        ("Pods", 2, 30),
    }
    assert down["stabilizationWindowSeconds"] == 300
    assert {(p["type"], p["value"], p["periodSeconds"]) for p in down["policies"]} == {
        ("Percent", 50, 60),
        ("Pods", 1, 60),
    }
    for overlay in ("dev", "staging"):
        assert not _kinds(objects(overlay), "HorizontalPodAutoscaler")


@pytest.mark.parametrize(("overlay", "min_available"), [("staging", 1), ("prod", 2)])
def test_disruption_budget(
    overlay: str, min_available: int, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    budget = pick(docs, "PodDisruptionBudget", "examstutor-api-pdb")["spec"]
    assert budget["minAvailable"] == min_available
    labels = pick(docs, "Deployment", "examstutor-api")["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert not _kinds(objects("dev"), "PodDisruptionBudget"), "1 replica: a budget blocks drains"


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_tls_with_cert_manager(overlay: str, objects: Callable[[str], Docs], pick: Pick) -> None:
    ingress = pick(objects(overlay), "Ingress", "examstutor-api")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"] == "examstutor-api-tls"
    assert tls["hosts"] == [rule["host"] for rule in ingress["spec"]["rules"]]


def test_dev_has_no_tls_and_a_nodeport(objects: Callable[[str], Docs], pick: Pick) -> None:
    docs = objects("dev")
    assert "tls" not in pick(docs, "Ingress", "examstutor-api")["spec"]
    assert pick(docs, "Service", "examstutor-api-service")["spec"]["type"] == "NodePort"
    assert not _kinds(docs, "NetworkPolicy")


def _ports(rules: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for rule in rules for p in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_network_policy_default_deny_and_the_api_allow_list(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    deny = pick(docs, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    api = pick(docs, "NetworkPolicy", "examstutor-api")["spec"]
    assert api["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "examstutor-api"}
    (ingress,) = api["ingress"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in ingress["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    assert _ports([ingress]) == {("TCP", 8000)}
    assert _ports(api["egress"]) == {("TCP", 5432), ("UDP", 53), ("TCP", 53)}
    migrate = pick(docs, "NetworkPolicy", "examstutor-migrate")["spec"]
    assert "ingress" not in migrate
    assert _ports(migrate["egress"]) == {("TCP", 5432), ("UDP", 53), ("TCP", 53)}
    # Dagster's pods (release "dagster", and the run pods dagster-k8s labels alike)
    dagster = pick(docs, "NetworkPolicy", "dagster")["spec"]
    assert dagster["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "dagster"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_least_privilege(overlay: str, objects: Callable[[str], Docs], pick: Pick) -> None:
    docs = objects(overlay)
    for role in _kinds(docs, "Role") + _kinds(docs, "ClusterRole"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), f"wildcard in {role['metadata']['name']}"
            assert set(rule["verbs"]) <= {"get"}
            assert rule.get("resourceNames"), "every rule names its objects"
    binding = pick(docs, "RoleBinding", "examstutor-api")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": "examstutor-api-sa",
            "namespace": f"examstutor-{overlay}",
        }
    ]
    assert not _kinds(docs, "ClusterRoleBinding")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_and_what_it_needs_are_labelled_for_the_first_phase(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    docs = objects(overlay)
    job = pick(docs, "Job", "examstutor-migrate")
    pod = job["spec"]["template"]["spec"]
    _assert_hardened(pod)
    (container,) = pod["containers"]
    assert container["command"] == ["examstutor", "db", "migrate"]
    assert (
        container["image"]
        == pick(docs, "Deployment", "examstutor-api")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
    )
    (override,) = container["env"]
    assert override["name"] == "EXAMSTUTOR_DATABASE_URL"
    assert override["valueFrom"]["secretKeyRef"]["name"] == "examstutor-migrate-db"
    assert pod["restartPolicy"] == "Never"
    phase = {
        (d["kind"], d["metadata"]["name"])
        for d in docs
        if d["metadata"].get("labels", {}).get("examstutor.ng/phase") == "migrate"
    }
    assert phase == {
        ("Namespace", f"examstutor-{overlay}"),
        ("ServiceAccount", pod["serviceAccountName"]),
        ("ConfigMap", "examstutor-config"),
        ("Job", "examstutor-migrate"),
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_enforces_restricted_pod_security(
    overlay: str, objects: Callable[[str], Docs], pick: Pick
) -> None:
    labels = pick(objects(overlay), "Namespace", f"examstutor-{overlay}")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_versioned_and_always_pulled(
    overlay: str, objects: Callable[[str], Docs]
) -> None:
    for doc in _kinds(objects(overlay), "Deployment") + _kinds(objects(overlay), "Job"):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            name, _, tag = container["image"].rpartition(":")
            assert name.endswith("/examstutor-api") and tag and tag != "latest"
            assert container["imagePullPolicy"] == "Always"

"""The Kubernetes Job that dagster-k8s would submit for a ``retention_job`` run.

Built offline with ``construct_dagster_k8s_job`` from the run launcher settings in
``helm-values/`` and the ``dagster-k8s/config`` tag the heavy assets carry, then
validated with ``kubernetes-validate --strict`` (no cluster needed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from dagster_k8s.job import (
    DagsterK8sJobConfig,
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
)
from dagster_k8s.models import k8s_snake_case_dict
from kubernetes.client import ApiClient, V1SecurityContext, V1Volume, V1VolumeMount

from examstutor_pipelines.definitions import defs

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.example.ng/examstutor-pipelines:0.1.0"


def _launcher_config() -> dict[str, Any]:
    values = yaml.safe_load((REPO / "helm-values" / "values.yaml").read_text())
    config: dict[str, Any] = values["runLauncher"]["config"]["k8sRunLauncher"]
    return config


def _retention_job_manifest() -> dict[str, Any]:
    launcher = _launcher_config()
    job_config = DagsterK8sJobConfig(
        job_image=IMAGE,
        dagster_home="/opt/dagster/dagster_home",
        image_pull_policy=launcher.get("imagePullPolicy", "Always"),
        instance_config_map="dagster-instance",
        env_config_maps=[m["name"] for m in launcher.get("envConfigMaps", [])],
        env_secrets=[s["name"] for s in launcher.get("envSecrets", [])],
        volume_mounts=[
            k8s_snake_case_dict(V1VolumeMount, m) for m in launcher.get("volumeMounts", [])
        ],
        volumes=[k8s_snake_case_dict(V1Volume, v) for v in launcher.get("volumes", [])],
        labels=launcher.get("labels", {}),
        resources=launcher.get("resources"),
        # the run launcher snake-cases Kubernetes fields the way its container context does
        security_context=k8s_snake_case_dict(
            V1SecurityContext, launcher.get("securityContext") or {}
        ),
        service_account_name="examstutor-dagster-runs",
    )
    asset = defs.get_assets_def("retention_expiry")
    tags = asset.op.tags
    raw = tags["dagster-k8s/config"]  # op tags hold JSON text
    user_config = UserDefinedDagsterK8sConfig.from_dict(
        json.loads(raw) if isinstance(raw, str) else raw
    )
    job = construct_dagster_k8s_job(
        job_config,
        args=["dagster", "api", "execute_run", '{"__class__": "ExecuteRunArgs"}'],
        job_name="dagster-run-8f14e45f-ceea-467e-a4c8-1b5e4a9f0c3d",
        user_defined_k8s_config=user_config,
        pod_name="dagster-run-8f14e45f-ceea-467e-a4c8-1b5e4a9f0c3d",
        component="run_worker",
        labels={"dagster/job": "retention_job", "dagster/partition": "sessions"},
        env_vars=[{"name": "DAGSTER_RUN_JOB_NAME", "value": "retention_job"}],
    )
    manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(job)
    manifest.setdefault("apiVersion", "batch/v1")
    manifest.setdefault("kind", "Job")
    return manifest


def test_retention_run_job_carries_our_settings() -> None:
    manifest = _retention_job_manifest()
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"]["memory"] == "2Gi"  # the asset's own tag
    assert {"configMapRef": {"name": "examstutor-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "examstutor-pipelines-secrets"}} in container["envFrom"]
    assert any(m["name"] == "exports" for m in container["volumeMounts"])
    text = yaml.safe_dump(manifest)
    assert "password" not in text.lower()


def test_retention_run_job_passes_kubernetes_validate_strict(
    tool: Callable[[str], Path], run: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "retention-run-job.yaml"
    path.write_text(yaml.safe_dump(_retention_job_manifest()))
    result = run(tool("kubernetes-validate"), "--strict", path, check=False)
    lines = (result.stdout + result.stderr).splitlines()
    bad = [line for line in lines if line.startswith(("WARN", "ERROR"))]
    assert result.returncode == 0, "\n".join(lines)
    assert not bad, "\n".join(lines)

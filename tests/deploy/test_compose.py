"""The single-host compose files: `docker-compose config` accepts them (no engine
needed), and they hold what the Epic asks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "EXAMSTUTOR_ENV_FILE": "deploy/compose/examstutor.env.example",
    "POSTGRES_ENV_FILE": "deploy/compose/postgres.env.example",
    "VERSION": "1.0.0",
}


def _config(
    tool: Callable[[str], Path], run: Callable[..., Any], compose_file: str, **env: str
) -> dict[str, Any]:
    result = run(tool("docker-compose"), "-f", compose_file, "config", env={**os.environ, **env})
    assert "WARNING" not in result.stderr, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


def _env_file(name: str) -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (REPO / "deploy" / "compose" / name).read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return dict(pairs)


def test_dev_compose(tool: Callable[[str], Path], run: Callable[..., Any]) -> None:
    services = _config(tool, run, "docker-compose.yml")["services"]
    assert set(services) == {
        "postgres",
        "dagster-db",
        "migrate",
        "api",
        "dagster-webserver",
        "dagster-daemon",
    }
    assert services["postgres"]["image"] == "postgres:18"
    assert services["migrate"]["command"] == ["examstutor", "db", "migrate"]
    api = services["api"]
    assert "--dev" in api["command"], "hot reload"
    assert any(str(REPO / "api" / "src") in v for v in api["volumes"]), "sources bind-mounted"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["build"]["target"] == "api"
    assert services["dagster-webserver"]["build"]["target"] == "pipelines"
    assert "dagster-daemon run" in " ".join(services["dagster-daemon"]["command"])


def test_prod_compose(tool: Callable[[str], Path], run: Callable[..., Any]) -> None:
    config = _config(tool, run, "docker-compose.prod.yml", **PROD_ENV)
    services = config["services"]
    assert {"postgres", "migrate", "api", "dagster-webserver", "dagster-daemon", "nginx"} <= set(
        services
    )
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume["source"]
            assert not source.startswith(("/", ".")), f"{name} bind-mounts {source}"
        if service.get("restart") != "no":
            limits = service["deploy"]["resources"]["limits"]
            assert limits["cpus"] and limits["memory"], name
        assert "build" not in service or name == "nginx", f"{name} must run the pushed image"
    assert set(config["volumes"]) >= {"postgres-data", "exports"}
    api = services["api"]
    assert api["image"] == "registry.examstutor.ng/examstutor-api:1.0.0"
    assert api["read_only"] is True and api["cap_drop"] == ["ALL"]
    assert "exports:/var/lib/examstutor/exports:ro" in api["volumes"]
    nginx = services["nginx"]
    assert nginx["build"]["context"] == str(REPO / "deploy" / "nginx")
    assert "api" in nginx["depends_on"]
    assert "ports" not in api, "the API is reached through nginx only"


def test_prod_compose_needs_a_version(tool: Callable[[str], Path], run: Callable[..., Any]) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "VERSION"}
    environ.update({k: v for k, v in PROD_ENV.items() if k != "VERSION"})
    result = run(
        tool("docker-compose"), "-f", "docker-compose.prod.yml", "config", check=False, env=environ
    )
    assert result.returncode != 0 and "VERSION" in result.stderr


def test_prod_env_files_name_every_setting_and_hold_no_secret() -> None:
    app = _env_file("examstutor.env.example")
    postgres = _env_file("postgres.env.example")
    contract = {
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
    assert {k for k in app if k.startswith("EXAMSTUTOR_")} == contract
    assert app["EXAMSTUTOR_ENV"] == "prod"
    secrets = [
        "EXAMSTUTOR_DATABASE_URL",
        "EXAMSTUTOR_KEKS",
        "EXAMSTUTOR_INDEX_KEY",
        "EXAMSTUTOR_PSEUDONYM_KEY",
        "EXAMSTUTOR_SIGNING_KEY",
        "EXAMSTUTOR_JWT_SECRET",
        "DAGSTER_PG_PASSWORD",
    ]
    assert all(app[name] == "" for name in secrets)
    assert postgres["POSTGRES_PASSWORD"] == "" and postgres["PGPASSWORD"] == ""


def test_the_single_host_dagster_instance_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    config, _ = dagster_instance_config(str(REPO / "deploy" / "dagster"))
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }
    assert config["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["telemetry"] == {"enabled": False}

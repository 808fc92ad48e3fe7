"""The Dockerfile: hadolint clean, two targets, each with only its own package
(checked on uv.lock's dependency closure), non-root, read-only ready."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "Dockerfile").read_text()
DOCKERFILES = ["Dockerfile", "deploy/nginx/Dockerfile"]


def _stages(text: str) -> dict[str, str]:
    """Each named stage's instructions (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: dict[str, str] = {}
    name = ""
    for line in joined.splitlines():
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if found:
            name = found.group(1)
            stages[name] = ""
        elif name and line.strip() and not line.lstrip().startswith("#"):
            stages[name] += line.strip() + "\n"
    return stages


def _closure(package: str) -> set[str]:
    """Every package ``package`` needs, per uv.lock (markers ignored: a superset)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    by_name = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [d["name"] for d in by_name[name].get("dependencies", [])]
    return seen


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_is_clean(
    dockerfile: str, tool: Callable[[str], Path], run: Callable[..., Any]
) -> None:
    result = run(tool("hadolint"), "--no-color", dockerfile, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_base_image_is_an_argument_defaulting_to_a_tagged_official_python() -> None:
    first = next(
        line for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")
    )
    assert first == "ARG BASE_IMAGE=python:3.11-slim-bookworm"
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert {f for f in froms if "$" in f} == {"${BASE_IMAGE}"}
    assert "@sha256" not in DOCKERFILE


def test_targets_install_one_package_each_from_the_lock() -> None:
    stages = _stages(DOCKERFILE)
    assert {"build", "build-api", "build-pipelines", "runtime", "api", "pipelines"} <= set(stages)
    for target in ("api", "pipelines"):
        build = stages[f"build-{target}"]
        syncs = re.findall(r"uv sync ([^\n]+)", build)
        assert syncs, f"build-{target} installs nothing"
        for sync in syncs:
            assert "--frozen" in sync and "--no-dev" in sync
            assert f"--package examstutor-{target}" in sync
        assert f"COPY --from=build-{target} /opt/venv /opt/venv" in stages[target]
        assert "USER 1000:1000" in stages[target]
        other = "definitions" if target == "api" else "api"
        assert f"{other}/src" not in build, f"the {target} image copies {other}'s sources"
    assert "HEALTHCHECK" in stages["api"] and "/health/live" in stages["api"]
    assert "curl" not in stages["api"]
    assert 'CMD ["sanic", "examstutor_api.app:create_app", "--factory"' in stages["api"]
    assert '"-m", "examstutor_pipelines.definitions"' in stages["pipelines"]


def test_runtime_writes_nothing_outside_tmp_and_the_volumes() -> None:
    runtime = _stages(DOCKERFILE)["runtime"]
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "HOME=/tmp",
        "EXAMSTUTOR_HOME=/tmp/examstutor",
        "EXAMSTUTOR_EXPORT_DIR=/var/lib/examstutor/exports",
    ):
        assert setting in runtime
    assert "UV_COMPILE_BYTECODE=1" in _stages(DOCKERFILE)["build"], "compile at build time"


def test_the_api_image_holds_no_dagster_and_the_pipelines_image_no_sanic() -> None:
    api, pipelines = _closure("examstutor-api"), _closure("examstutor-pipelines")
    assert "examstutor-platform" in api and "sanic" in api
    assert not {name for name in api if name.startswith("dagster")}
    assert "dagster-k8s" in pipelines and "dagster-postgres" in pipelines
    assert not {name for name in pipelines if name.startswith("sanic")}
    assert "examstutor-api" not in pipelines


def test_dockerignore_sends_only_the_sources_and_the_lock() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.MULTILINE))
    for sources in copied:
        for source in sources.split():
            assert any(source.rstrip("/") == i or source.startswith(i) for i in included), source

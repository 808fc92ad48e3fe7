"""The operator scripts: shellcheck clean, strict mode, and their dry runs print
the commands a real run would execute, in order, running none of them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = ["scripts/deploy.sh", "scripts/rollback.sh", "scripts/build_and_push.sh"]
SHELL_FILES = sorted(
    str(p.relative_to(REPO)) for p in [*REPO.glob("scripts/*.sh"), *REPO.glob("deploy/**/*.sh")]
)
# Binaries that do not exist: a dry run that ran anything would fail.
FAKE = {"KUBECTL": "/nonexistent/kubectl", "HELM": "/nonexistent/helm"}


def _dry_run(run: Callable[..., Any], *args: str, **env: str) -> tuple[list[list[str]], str]:
    """Run a script with --dry-run; return the printed commands (split) and all output."""
    environ = {**os.environ, **FAKE, "REGISTRY": "registry.example.test", **env}
    result = run("bash", args[0], "--dry-run", *args[1:], env=environ)
    commands = [
        shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")
    ]
    return commands, result.stdout + result.stderr


def _index(commands: list[list[str]], *needle: str) -> int:
    """Position of the first command that contains ``needle`` as consecutive words."""
    for position, command in enumerate(commands):
        for start in range(len(command) - len(needle) + 1):
            if tuple(command[start : start + len(needle)]) == needle:
                return position
    raise AssertionError(f"no command with {' '.join(needle)!r} in:\n{commands}")


def test_shellcheck_is_clean(tool: Callable[[str], Path], run: Callable[..., Any]) -> None:
    assert "scripts/lib.sh" in SHELL_FILES and "deploy/image-check.sh" in SHELL_FILES
    result = run(tool("shellcheck"), "--external-sources", *SHELL_FILES, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", [*SCRIPTS, "deploy/image-check.sh"])
def test_strict_mode_and_executable(script: str) -> None:
    path = REPO / script
    assert "\nset -euo pipefail\n" in path.read_text()
    assert os.access(path, os.X_OK), f"chmod +x {script}"


def test_deploy_dry_run_runs_the_steps_in_order(
    run: Callable[..., Any], tool: Callable[[str], Path], tmp_path: Path
) -> None:
    commands, output = _dry_run(run, "scripts/deploy.sh", "prod", "1.4.2")
    assert all(c[0] in (FAKE["KUBECTL"], FAKE["HELM"]) for c in commands), commands
    order = [
        _index(commands, "get", "secret", "examstutor-secrets", "examstutor-migrate-db"),
        _index(commands, "delete", "job", "examstutor-migrate"),
        _index(commands, "--selector", "examstutor.ng/phase=migrate"),
        _index(commands, "wait", "--for=condition=complete"),
        next(
            i
            for i, c in enumerate(commands)
            if c[1:3] == ["apply", "--kustomize"] and "--selector" not in c
        ),
        _index(commands, "upgrade", "--install", "dagster", "dagster/dagster"),
        _index(commands, "rollout", "status", "deployment/examstutor-api"),
        _index(commands, "exec", "deployment/examstutor-api"),
    ]
    assert order == sorted(order), output
    helm = commands[order[5]]
    assert helm[helm.index("--namespace") + 1] == "examstutor-prod"
    values = [helm[i + 1] for i, word in enumerate(helm) if word == "--values"]
    assert values == [
        str(REPO / "helm-values/values.yaml"),
        str(REPO / "helm-values/values-prod.yaml"),
    ]
    assert helm[helm.index("--version") + 1] == "1.13.27"
    overrides = dict(helm[i + 1].split("=", 1) for i, w in enumerate(helm) if w == "--set-string")
    assert overrides == {
        f"{key}.{field}": value
        for key in (
            "dagsterWebserver.image",
            "dagsterDaemon.image",
            "dagster-user-deployments.deployments[0].image",
        )
        for field, value in (
            ("repository", "registry.example.test/examstutor-pipelines"),
            ("tag", "1.4.2"),
        )
    }
    # each --set-string path exists in helm-values/values.yaml
    ours = yaml.safe_load((REPO / "helm-values" / "values.yaml").read_text())
    for key in overrides:
        node: Any = ours
        for part in re.findall(r"[^.\[\]]+", key):
            node = node[int(part)] if part.isdigit() else node[part]
        assert node is not None, key
    # the printed throwaway kustomization pins the API image to the version
    block = re.search(r"^# (\S+)/kustomization.yaml:\n((?:#   .*\n)+)", output, re.MULTILINE)
    assert block, output
    assert not Path(block.group(1)).exists(), "the throwaway kustomization was left behind"
    assert Path(block.group(1)).parent == REPO / "k8s"
    kustomization = "".join(line[4:] + "\n" for line in block.group(2).splitlines())
    folder = REPO / "k8s" / f".deploy-test-{tmp_path.name}"
    folder.mkdir()
    try:
        (folder / "kustomization.yaml").write_text(kustomization)
        rendered = run(tool("kubectl"), "kustomize", folder).stdout
    finally:
        shutil.rmtree(folder)
    images = set(re.findall(r"image: (\S+)", rendered))
    assert images == {"registry.example.test/examstutor-api:1.4.2"}


def test_deploy_without_a_version_applies_the_overlay_as_checked_in(
    run: Callable[..., Any],
) -> None:
    commands, _ = _dry_run(run, "scripts/deploy.sh", "dev")
    apply = next(c for c in commands if c[1:3] == ["apply", "--kustomize"])
    assert apply[3] == str(REPO / "k8s" / "overlays" / "dev")
    helm = commands[_index(commands, "upgrade", "--install")]
    assert "--set-string" not in helm
    assert str(REPO / "helm-values/values-dev.yaml") in helm


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "unknown environment"),
        (["prod", "latest"], "not 'latest'"),
        (["prod", "1.0;rm"], "not a valid image tag"),
    ],
)
def test_deploy_refuses_bad_arguments(
    run: Callable[..., Any], args: list[str], message: str
) -> None:
    result = run(
        "bash", "scripts/deploy.sh", "--dry-run", *args, check=False, env={**os.environ, **FAKE}
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert "+ " not in result.stdout


def test_rollback_dry_run(run: Callable[..., Any]) -> None:
    commands, output = _dry_run(run, "scripts/rollback.sh", "--dagster-revision", "7", "prod", "3")
    undo = _index(commands, "rollout", "undo", "deployment/examstutor-api", "--to-revision=3")
    assert _index(commands, "rollout", "history") < undo
    assert undo < _index(commands, "rollout", "status", "deployment/examstutor-api")
    rollback = commands[_index(commands, "rollback", "dagster", "7")]
    assert rollback[rollback.index("--namespace") + 1] == "examstutor-prod"
    assert _index(commands, "exec", "deployment/examstutor-api") > undo, output

    commands, _ = _dry_run(run, "scripts/rollback.sh", "--only", "api", "staging")
    assert _index(commands, "rollout", "undo", "deployment/examstutor-api") >= 0
    assert not any("--to-revision" in word for c in commands for word in c)
    assert not any(c[0] == FAKE["HELM"] for c in commands)

    commands, _ = _dry_run(run, "scripts/rollback.sh", "--only", "dagster", "dev")
    assert commands[_index(commands, "rollback", "dagster")][3:] == [
        "--namespace",
        "examstutor-dev",
        "--wait",
        "--timeout",
        "10m",
    ]
    assert not any("undo" in c for c in commands)


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_build_and_push_dry_run(run: Callable[..., Any], engine: str) -> None:
    commands, _ = _dry_run(
        run, "scripts/build_and_push.sh", "2.0.1", CONTAINER_ENGINE=f"/nonexistent/{engine}"
    )
    builds = [c for c in commands if c[1] == "build"]
    pushes = [c for c in commands if c[1] == "push"]
    assert [b[b.index("--target") + 1] for b in builds] == ["api", "pipelines"]
    assert [b[b.index("--tag") + 1] for b in builds] == [
        "registry.example.test/examstutor-api:2.0.1",
        "registry.example.test/examstutor-pipelines:2.0.1",
    ]
    assert [p[2] for p in pushes] == [b[b.index("--tag") + 1] for b in builds]
    assert all(("--format" in b) == (engine == "podman") for b in builds)
    assert max(commands.index(b) for b in builds) < min(commands.index(p) for p in pushes)

    commands, _ = _dry_run(run, "scripts/build_and_push.sh", "--no-push", "2.0.1")
    assert not [c for c in commands if c[1] == "push"]

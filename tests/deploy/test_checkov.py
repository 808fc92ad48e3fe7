"""checkov on the rendered overlays and on the Dockerfiles: the failed checks are
exactly those in deploy/checkov-skips.yaml, each with its reason."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SKIPS = yaml.safe_load((REPO / "deploy" / "checkov-skips.yaml").read_text())
OVERLAYS = ("dev", "staging", "prod")


def _ids(entries: list[dict[str, str]]) -> set[str]:
    return {entry["id"] for entry in entries}


@pytest.fixture(scope="session")
def failed_checks(
    render: Callable[[str], str],
    tool: Callable[[str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, set[str]]:
    """The failed check ids by scanned file: one checkov per overlay (its graph
    checks relate objects across a whole scan), one for the Dockerfiles, all at once."""
    checkov = tool("checkov")
    scans: dict[str, tuple[Path, str]] = {}
    for overlay in OVERLAYS:
        folder = tmp_path_factory.mktemp(f"checkov-{overlay}")
        (folder / f"{overlay}.yaml").write_text(render(overlay))
        scans[overlay] = (folder, "kubernetes")
    folder = tmp_path_factory.mktemp("checkov-dockerfiles")
    for dockerfile in SKIPS["dockerfile"]:
        target = folder / dockerfile
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((REPO / dockerfile).read_text())
    scans["dockerfiles"] = (folder, "dockerfile")
    # --skip-download: no call to the vendor's platform (none is reachable here).
    processes = {
        name: subprocess.Popen(
            [
                checkov,
                "--directory",
                folder,
                "--framework",
                framework,
                "--skip-download",
                "--output",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (folder, framework) in scans.items()
    }
    failed: dict[str, set[str]] = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode in (0, 1), f"checkov on {name}: {stdout[-2000:]}{stderr[-2000:]}"
        report = json.loads(stdout)
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        for check in report["results"]["passed_checks"]:
            failed.setdefault(check["file_path"].lstrip("/"), set())
        for check in report["results"]["failed_checks"]:
            failed.setdefault(check["file_path"].lstrip("/"), set()).add(check["check_id"])
    return failed


def test_every_skip_has_an_id_and_a_reason() -> None:
    groups = [*SKIPS["kubernetes"].values(), *SKIPS["dockerfile"].values()]
    entries = [entry for group in groups for entry in group]
    assert entries
    for entry in entries:
        assert set(entry) == {"id", "reason"}, entry
        assert entry["id"].startswith(("CKV_", "CKV2_")), entry
        assert len(entry["reason"].split()) >= 8, f"{entry['id']}: say why"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_on_the_rendered_overlay(overlay: str, failed_checks: dict[str, set[str]]) -> None:
    allowed = _ids(SKIPS["kubernetes"]["all"]) | _ids(SKIPS["kubernetes"].get(overlay, []))
    assert f"{overlay}.yaml" in failed_checks, f"checkov did not scan {overlay}"
    failed = failed_checks[f"{overlay}.yaml"]
    assert failed - allowed == set(), f"checkov checks failing in {overlay}"
    assert allowed - failed == set(), f"skips no longer needed in {overlay}: remove them"


@pytest.mark.parametrize("dockerfile", sorted(SKIPS["dockerfile"]))
def test_checkov_on_the_dockerfile(dockerfile: str, failed_checks: dict[str, set[str]]) -> None:
    allowed = _ids(SKIPS["dockerfile"][dockerfile])
    assert dockerfile in failed_checks, f"checkov did not scan {dockerfile}"
    failed = failed_checks[dockerfile]
    assert failed - allowed == set(), f"checkov checks failing in {dockerfile}"
    assert allowed - failed == set(), f"skips no longer needed in {dockerfile}: remove them"

"""What each image installs, imported for real: the Dockerfile's `uv sync
--package …` into a fresh environment, then the image's entry modules.

The project's own environment has every package at once, so a dependency that
one image needs but only the other package brings in would go unnoticed there.
`make image-check` builds the real images; this runs in `make test`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

API_PROBE = """
import importlib.util, sys
import examstutor_api.app
import examstutor_platform.cli
dagster = ("dagster", "dagster_k8s", "dagster_webserver")
present = [m for m in dagster if importlib.util.find_spec(m)]
sys.exit(f"the API image would carry {present}" if present else 0)
"""
PIPELINES_PROBE = """
import importlib.util, sys
import dagster, dagster_k8s, dagster_postgres, psycopg2
import examstutor_pipelines, examstutor_platform.cli
if importlib.util.find_spec("examstutor_pipelines.definitions"):
    import examstutor_pipelines.definitions
present = [m for m in ("sanic", "examstutor_api") if importlib.util.find_spec(m)]
sys.exit(f"the pipelines image would carry {present}" if present else 0)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("package", "probe"),
    [("examstutor-api", API_PROBE), ("examstutor-pipelines", PIPELINES_PROBE)],
)
def test_the_image_package_set_imports_on_its_own(
    package: str,
    probe: str,
    tool: Callable[[str], Path],
    run: Callable[..., Any],
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
    }
    run(
        tool("uv"),
        "sync",
        "--frozen",
        "--no-dev",
        "--no-editable",
        "--package",
        package,
        "--python",
        sys.executable,
        "--quiet",
        env=env,
    )
    run(venv / "bin" / "python", "-c", probe, cwd=tmp_path)

"""The local Dagster instance for ``examstutor dev``: its ``DAGSTER_HOME`` and command line.

Dagster keeps its runs, event logs and schedule state in PostgreSQL through
dagster-postgres, in a database ``dagster`` on the same server as the
application database. No Dagster import here: the core writes YAML text.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from examstutor_platform.db.location import DAGSTER_DATABASE
from examstutor_platform.settings import Settings

__all__ = ["dagster_argv", "dagster_storage_url", "write_dagster_home"]


def dagster_storage_url(app_url: str) -> str:
    """SQLAlchemy URL of the ``dagster`` database beside the application database.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, so the driver is named
    (``postgresql+psycopg2``); a unix-socket folder stays in ``?host=``."""
    parts = urlsplit(app_url)
    query = parse_qs(parts.query)
    kept = "&".join(f"{k}={v[0]}" for k, v in query.items() if k in ("host", "port", "sslmode"))
    return urlunsplit(("postgresql+psycopg2", parts.netloc, f"/{DAGSTER_DATABASE}", kept, ""))


def write_dagster_home(settings: Settings, app_url: str) -> Path:
    """Write ``EXAMSTUTOR_HOME/dagster/dagster.yaml`` (Postgres storage) and return the folder."""
    home = settings.home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    url = json.dumps(dagster_storage_url(app_url))  # a JSON string is a valid YAML scalar
    (home / "dagster.yaml").write_text(
        "# Written by `examstutor dev`: Dagster's own state in PostgreSQL (dagster-postgres).\n"
        "storage:\n"
        "  postgres:\n"
        f"    postgres_url: {url}\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "  config:\n"
        "    max_concurrent_runs: 2\n"
        "run_monitoring:\n"
        "  enabled: true\n"
        "telemetry:\n"
        "  enabled: false\n",
        encoding="utf-8",
    )
    return home


def dagster_argv(bin_folder: Path, port: int) -> list[str]:
    """``dagster dev`` for the code location: UI on 127.0.0.1:``port``, daemon included."""
    return [
        str(bin_folder / "dagster"),
        "dev",
        "-m",
        "examstutor_pipelines.definitions",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]

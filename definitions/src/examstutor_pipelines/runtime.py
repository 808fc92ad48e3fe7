"""Running the core's async engines from Dagster's synchronous ops.

Each op opens one connection (or a small pool) for its work and closes it;
nothing is shared between runs, so a run pod needs no state of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import dagster as dg

from examstutor_platform.db.pool import DbConnection, connect

__all__ = ["HEAVY_K8S", "LIGHT_K8S", "as_metadata", "with_connection"]

T = TypeVar("T")

#: pod resources for runs that stream whole days or tables (dagster-k8s reads this tag)
HEAVY_K8S = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "1000m", "memory": "1Gi"},
                "limits": {"cpu": "2000m", "memory": "2Gi"},
            }
        }
    }
}
#: pod resources for small bookkeeping runs
LIGHT_K8S = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "250m", "memory": "256Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            }
        }
    }
}


def with_connection(url: str, work: Callable[[DbConnection], Awaitable[T]]) -> T:
    """Run ``work(conn)`` on a fresh connection to ``url`` and return its result."""

    async def main() -> T:
        conn = await connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def as_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """An engine's result as Dagster metadata: nested values as JSON, absent ones as "—"."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = dg.MetadataValue.json(dict(value))
        elif isinstance(value, list | tuple):
            out[key] = dg.MetadataValue.json(list(value))
        elif value is None:
            out[key] = "—"
        else:
            out[key] = value
    return out

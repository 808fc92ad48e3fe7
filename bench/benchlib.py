"""What every benchmark prints about the machine and the server it ran on.

The benchmarks run as scripts (``.venv/bin/python bench/bench_….py``), so this folder
is on ``sys.path`` and they ``import benchlib``.
"""

from __future__ import annotations

import platform
from pathlib import Path

import asyncpg

__all__ = ["cpu_model", "server_facts"]


def cpu_model() -> str:
    """The model name Linux reports, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


async def server_facts(url: str) -> str:
    """PostgreSQL's version and the settings that decide what "committed" costs."""
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        sync_commit = await conn.fetchval("SHOW synchronous_commit")
        wal_sync = await conn.fetchval("SHOW wal_sync_method")
    finally:
        await conn.close()
    return (
        f"PostgreSQL {version} (embedded, unix socket), fsync={fsync}, "
        f"synchronous_commit={sync_commit}, wal_sync_method={wal_sync}"
    )

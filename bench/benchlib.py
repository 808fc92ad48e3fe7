"""What every benchmark prints about the machine and the server it ran on.

The benchmarks run as scripts (``.venv/bin/python bench/bench_….py``), so this folder
is on ``sys.path`` and they ``import benchlib``.
"""

from __future__ import annotations

import math
import os
import platform
from pathlib import Path

import asyncpg

__all__ = ["cpu_model", "server_cpu", "server_facts"]


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


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().rpartition(")")[2].split()


def server_cpu(data_dir: Path) -> float:
    """CPU seconds a local server has used: its postmaster, its live processes
    (backends, WAL writer, checkpointer, …), and through the postmaster's children
    times those that have exited (connections closed meanwhile). NaN where ``/proc``
    does not show them."""
    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        fields = _stat(postmaster)
    except (OSError, ValueError, IndexError):
        return math.nan
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != postmaster:
            try:
                child = _stat(int(entry))
            except OSError:
                continue  # gone meanwhile (its time now counts as reaped)
            if int(child[1]) == postmaster:
                total += int(child[11]) + int(child[12])
    return total / os.sysconf("SC_CLK_TCK")

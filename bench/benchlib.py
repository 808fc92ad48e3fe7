"""What every benchmark prints about the machine and the server it ran on.

The benchmarks run as scripts (``.venv/bin/python bench/bench_….py``), so this folder
is on ``sys.path`` and they ``import benchlib``.
"""

from __future__ import annotations

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


def server_cpu(data_dir: Path) -> float | None:
    """CPU seconds of a local server so far: its postmaster, every process it runs now
    (backends, WAL writer, checkpointer, …) and those it has reaped (connections
    closed meanwhile); None when ``/proc`` does not show them."""

    def times(pid: int) -> tuple[int, list[str]]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), fields  # parent pid, the fields from state on

    try:
        postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
        _, own = times(postmaster)
        ticks = sum(int(own[i]) for i in (11, 12, 13, 14))  # utime, stime, cutime, cstime
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent, fields = times(int(entry.name))
                except OSError:
                    continue  # gone meanwhile (its time now counts as reaped)
                if parent == postmaster:
                    ticks += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")

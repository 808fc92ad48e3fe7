"""The schema as ``pg_dump --schema-only`` prints it, normalised for comparison.

``python -m examstutor_platform.db.schema_dump`` builds a scratch database from
the migrations on a temporary embedded server and prints its schema; ``make
schema`` writes that to ``schema.sql``, which a test compares with a database
built from the migrations, so drift between the two fails CI. Monthly audit
partitions depend on the date and are left out.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg

from examstutor_platform.db.embedded import EmbeddedPostgres, bin_dir
from examstutor_platform.db.migrate import migrate
from examstutor_platform.db.pool import connect

__all__ = ["dump_schema", "normalise"]


def normalise(dump: str) -> str:
    """Drop the lines that vary between runs: comments, session settings, restrict keys."""
    kept: list[str] = []
    for line in dump.splitlines():
        if line.startswith(
            ("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")
        ):
            continue
        kept.append(line.rstrip())
    text = "\n".join(kept)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def dump_schema(url: str) -> str:
    """The normalised schema of the database at ``url`` (without audit partitions)."""
    result = subprocess.run(  # noqa: S603 - the wheel's pg_dump
        [
            str(bin_dir() / "pg_dump"),
            "--schema-only",
            "--no-owner",
            "--exclude-table=public.audit_events_y*",
            f"--dbname={url}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return normalise(result.stdout)


async def _build(url: str) -> None:
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("CREATE DATABASE schema_dump")
    finally:
        await admin.close()
    conn = await connect(url.replace("/postgres?", "/schema_dump?"))
    try:
        await migrate(conn)
    finally:
        await conn.close()


def main() -> int:
    """Print the schema a fresh database gets from the migrations."""
    with tempfile.TemporaryDirectory(prefix="examstutor-schema-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        server.start()
        try:
            asyncio.run(_build(server.url()))
            sys.stdout.write(dump_schema(server.url("schema_dump")))
        finally:
            server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

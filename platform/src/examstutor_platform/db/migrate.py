"""Forward-only numbered SQL migrations (``migrations/NNNN_what.sql``).

Each file runs in its own transaction and is recorded in ``schema_migrations``
with its SHA-256; an advisory lock serialises concurrent migrators, so two
replicas starting together apply each file once. A file edited after it was
applied, or a database newer than the code, is an error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.errors import MigrationError

__all__ = ["ADVISORY_LOCK_KEY", "Migration", "applied_versions", "available", "migrate", "pending"]

ADVISORY_LOCK_KEY = 0x45_78_61_6D_54_75_74  # "ExamTut"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file shipped with the package."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available() -> list[Migration]:
    """Every migration shipped with the package, in version order."""
    found: list[Migration] = []
    folder = resources.files("examstutor_platform.db") / "migrations"
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def applied_versions(conn: DbConnection) -> dict[int, str]:
    """Applied versions and their checksums; empty when the ledger does not exist yet."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _check(shipped: list[Migration], applied: dict[int, str]) -> list[Migration]:
    by_version = {m.version: m for m in shipped}
    unknown = sorted(set(applied) - set(by_version))
    if unknown:
        raise MigrationError(
            f"the database has migration {unknown[0]:04d} that this code does not know; "
            "deploy the newer code"
        )
    for version, checksum in applied.items():
        if by_version[version].checksum != checksum:
            raise MigrationError(
                f"migration {by_version[version].name} was edited after it was applied; "
                "add a new migration instead"
            )
    return [m for m in shipped if m.version not in applied]


async def pending(conn: DbConnection) -> list[Migration]:
    """Migrations not yet applied (raises if the applied ones do not match the code)."""
    return _check(available(), await applied_versions(conn))


async def migrate(conn: DbConnection) -> list[str]:
    """Apply pending migrations under the advisory lock; return the names applied."""
    done: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(_CREATE_LEDGER)
        for migration in await pending(conn):
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            done.append(migration.name)
        await conn.execute(
            "SELECT audit_ensure_partitions((current_date - 31)::date, (current_date + 400)::date)"
        )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return done

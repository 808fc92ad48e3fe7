"""Migrations: checked-in schema.sql, idempotence, edits detected, racing migrators."""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Callable
from importlib import resources

import asyncpg
import pytest

from examstutor_platform.db import connect, migrate, pending
from examstutor_platform.db.migrate import ADVISORY_LOCK_KEY, Migration, available
from examstutor_platform.db.schema_dump import dump_schema
from examstutor_platform.errors import MigrationError

UrlFor = Callable[[str], str]
migrate_module = importlib.import_module("examstutor_platform.db.migrate")


async def test_checked_in_schema_matches_the_migrations(admin_url: str, url_for: UrlFor) -> None:
    shipped = (resources.files("examstutor_platform.db") / "schema.sql").read_text("utf-8")
    built = await asyncio.to_thread(dump_schema, url_for("examstutor_template"))
    assert built == shipped, "schema.sql is out of date: run `make schema` and commit it"


async def test_every_migration_is_recorded_once(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(m.version, m.name) for m in available()]
    assert await pending(conn) == []


async def test_migrate_again_applies_nothing(conn: asyncpg.Connection) -> None:
    assert await migrate(conn) == []


async def test_an_edited_migration_is_refused(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 2")
    with pytest.raises(MigrationError, match=r"0002_audit_log\.sql was edited"):
        await migrate(conn)


async def test_a_database_newer_than_the_code_is_refused(conn: asyncpg.Connection) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
    )
    with pytest.raises(MigrationError, match="9999"):
        await pending(conn)


async def test_two_migrators_racing_apply_each_file_once(admin_url: str, url_for: UrlFor) -> None:
    name = f"race_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = url_for(name)
        first, second = await connect(url), await connect(url)
        try:
            results = await asyncio.gather(migrate(first), migrate(second))
        finally:
            await first.close()
            await second.close()
        applied = sorted(results, key=len)
        assert applied[0] == []
        assert applied[1] == [m.name for m in available()]
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_failing_migration_leaves_nothing_half_applied(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Migration(9000, "9000_broken.sql", "CREATE TABLE half_done (id int);\nSELECT nope();")
    shipped = available()
    monkeypatch.setattr(migrate_module, "available", lambda: [*shipped, broken])
    with pytest.raises(MigrationError, match=r"9000_broken\.sql failed"):
        await migrate(conn)
    assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == shipped[-1].version
    assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", ADVISORY_LOCK_KEY)

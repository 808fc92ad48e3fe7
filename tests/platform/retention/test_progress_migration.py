"""Migration 0006 gives the retention engine's progress a table of its own: the entries
of a run killed before it (kept in cache_entries as JSON then) move there, and the next
run of the category certifies them."""

from __future__ import annotations

import base64
import importlib
import json
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from retention_seed import AT, certificates, digest_of, pseudonym, retention_settings

from examstutor_platform.db import connect, migrate
from examstutor_platform.db.migrate import available
from examstutor_platform.retention import load_policy, run_category

SETTINGS = retention_settings()
migrate_module = importlib.import_module("examstutor_platform.db.migrate")


async def test_progress_of_a_run_killed_before_the_migration_is_moved_and_certified(
    admin_url: str, url_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"m_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await connect(url_for(name))
    try:
        before = [m for m in available() if m.version < 6]
        with monkeypatch.context() as patched:
            patched.setattr(migrate_module, "available", lambda: before)
            await migrate(conn)
        students, staff = [uuid.uuid4(), uuid.uuid4()], uuid.uuid4()
        cutoff = load_policy().category("sessions").cutoff(AT)
        old = {
            "run_id": "run-old",
            "table": "auth_sessions",
            "rows": 3,
            "cutoff": cutoff.isoformat(),
            "students": base64.b64encode(b"".join(s.bytes for s in students)).decode(),
            "others": [f"staff:{staff}"],
        }
        await conn.execute(
            "INSERT INTO cache_entries (key, value) VALUES ($1, $2::text::jsonb), ('other', '{}')",
            "retention-progress:sessions:4f1c0de:00000000",
            json.dumps(old),
        )

        assert await migrate(conn) == ["0006_retention_progress.sql"]

        assert await conn.fetchval("SELECT string_agg(key, ',') FROM cache_entries") == "other"
        moved = await conn.fetchrow("SELECT * FROM retention_progress")
        assert moved is not None
        assert (moved["category"], moved["attempt"], moved["batch"]) == ("sessions", "4f1c0de", 0)
        assert (moved["run_id"], moved["table_name"], moved["row_count"]) == (
            "run-old",
            "auth_sessions",
            3,
        )
        assert moved["cutoff"] == cutoff
        assert moved["students"] == b"".join(s.bytes for s in students)
        assert moved["others"] == [f"staff:{staff}"]

        result = await run_category(conn, SETTINGS, "sessions", at=AT, run_id="run-new")
        assert result.adopted_runs == ("run-old",)
        by_run = {c["run_id"]: c for c in await certificates(conn, "sessions")}
        assert by_run["run-old"]["counts"] == {"auth_sessions": 3}
        expected = [pseudonym(SETTINGS, s) for s in students] + [
            pseudonym(SETTINGS, staff, "staff")
        ]
        assert by_run["run-old"]["subjects_sha256"] == digest_of(expected)
        assert await conn.fetchval("SELECT count(*) FROM retention_progress") == 0
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()

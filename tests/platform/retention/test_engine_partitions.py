"""Audit logs expire by whole monthly partitions, never younger than seven years; the
daily run also creates the coming months' partitions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from retention_seed import AT, audit_events, certificates, digest_of, place_hold, retention_settings

from examstutor_platform.db import connect
from examstutor_platform.retention import ensure_audit_partitions, expired_counts, run_category

SETTINGS = retention_settings()
OLD = [datetime(2015, 3, d, tzinfo=UTC) for d in (1, 15, 31)] + [datetime(2015, 4, 30, tzinfo=UTC)]


@pytest.fixture
async def pipelines(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    await connection.execute("SET ROLE examstutor_pipelines")
    try:
        yield connection
    finally:
        await connection.close()


async def _partitions(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit_events'::regclass ORDER BY 1"
    )
    return [row[0] for row in rows]


async def _seed_old_events(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT audit_ensure_partitions('2015-03-01', '2015-04-30')")
    await conn.executemany(
        "INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action, resource,"
        " outcome) VALUES ($1, 'stu_x', 'student', 'data.read', 'student_profile', 'success')",
        [(moment,) for moment in OLD],
    )
    await conn.execute(
        "INSERT INTO audit_events (actor_pseudonym, actor_role, action, resource, outcome)"
        " VALUES ('stu_x', 'student', 'data.read', 'student_profile', 'success')"
    )


async def test_old_partitions_are_dropped_and_certified(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    await _seed_old_events(conn)
    assert (await expired_counts(pipelines, SETTINGS, AT))["audit_logs"] == 4
    before = await _partitions(conn)
    preview = await run_category(pipelines, SETTINGS, "audit_logs", at=AT, run_id="p", preview=True)
    assert await _partitions(conn) == before
    assert preview.dropped_partitions == ("audit_events_y2015m03", "audit_events_y2015m04")
    assert preview.processed == {"audit_events": 4}

    result = await run_category(pipelines, SETTINGS, "audit_logs", at=AT, run_id="daily-1")

    assert result.dropped_partitions == preview.dropped_partitions
    assert result.processed == {"audit_events": 4}
    assert await _partitions(conn) == [p for p in before if "2015" not in p]
    [certificate] = await certificates(conn, "audit_logs")
    assert certificate["counts"] == {"audit_events": 4, "partitions": 2, "held": 0}
    assert certificate["subjects_sha256"] == digest_of([])
    [event] = await audit_events(conn, "ndpr.retention_expiry")
    assert event["details"]["dropped_partitions"] == list(preview.dropped_partitions)
    assert (await expired_counts(pipelines, SETTINGS, AT))["audit_logs"] == 0
    again = await run_category(pipelines, SETTINGS, "audit_logs", at=AT, run_id="daily-1")
    assert again.already_certified and again.processed == {"audit_events": 4}


async def test_nothing_younger_than_seven_years_is_dropped(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    await _seed_old_events(conn)
    total = await conn.fetchval("SELECT count(*) FROM audit_events")
    result = await run_category(
        pipelines, SETTINGS, "audit_logs", at=AT + timedelta(days=3650), run_id="future"
    )
    assert result.processed == {"audit_events": 4}
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == total - 4 + 1


async def test_a_hold_on_audit_logs_keeps_every_partition(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    await _seed_old_events(conn)
    await place_hold(conn, category="audit_logs")
    result = await run_category(pipelines, SETTINGS, "audit_logs", at=AT, run_id="held")
    assert result.category_hold is not None and result.dropped_partitions == ()
    assert result.processed == {"audit_events": 0} and result.held_total == 4
    assert "audit_events_y2015m03" in await _partitions(conn)
    [certificate] = await certificates(conn, "audit_logs")
    assert certificate["counts"] == {"audit_events": 0, "partitions": 0, "held": 4}


async def test_the_daily_run_creates_the_coming_months(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    month = (AT.replace(day=1) + timedelta(days=62)).replace(day=1)
    name = f"audit_events_y{month:%Y}m{month:%m}"
    await conn.execute(f"ALTER TABLE audit_events DETACH PARTITION {name}")
    await conn.execute(f"DROP TABLE {name}")
    result = await run_category(pipelines, SETTINGS, "audit_logs", at=AT, run_id="d")
    assert result.partitions_created == 1 and name in await _partitions(conn)
    assert await ensure_audit_partitions(pipelines, months_ahead=3) == 0

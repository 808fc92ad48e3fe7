"""What each database role cannot do, and the append-only audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

INSERT_EVENT = """
INSERT INTO audit_events (actor_pseudonym, actor_role, action, resource, outcome)
VALUES ('stu_test', 'student', 'data.read', 'student_profile', 'success')
RETURNING seq, occurred_at
"""


async def _as(conn: asyncpg.Connection, role: str) -> None:
    await conn.execute(f"SET ROLE {role}")


async def test_api_role_appends_and_reads_audit_events(conn: asyncpg.Connection) -> None:
    await _as(conn, "examstutor_api")
    first = await conn.fetchrow(INSERT_EVENT)
    second = await conn.fetchrow(INSERT_EVENT)
    assert first is not None and second is not None
    assert second["seq"] > first["seq"]
    assert abs(first["occurred_at"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == 2


@pytest.mark.parametrize("role", ["examstutor_api", "examstutor_pipelines"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'denied'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "INSERT INTO audit_events (seq, actor_pseudonym, actor_role, action, resource, outcome)"
        " OVERRIDING SYSTEM VALUE VALUES (1, 'x', 'x', 'data.read', 'x', 'success')",
        "INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action, resource,"
        " outcome) VALUES ('2020-01-01', 'x', 'x', 'data.read', 'x', 'success')",
        "DROP TABLE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
    ],
)
async def test_roles_cannot_rewrite_audit_history(
    conn: asyncpg.Connection, role: str, statement: str
) -> None:
    await conn.fetchrow(INSERT_EVENT)
    await _as(conn, role)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'denied'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE consents SET granted = NOT granted",
        "DELETE FROM consents",
        "TRUNCATE consents",
    ],
)
async def test_append_only_tables_reject_even_the_owner(
    conn: asyncpg.Connection, statement: str
) -> None:
    await conn.fetchrow(INSERT_EVENT)
    await conn.execute(
        "INSERT INTO consents (student_id, purpose, granted, given_by) "
        "VALUES (gen_random_uuid(), 'marketing', true, 'student')"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM students",
        "DELETE FROM questions",
        "UPDATE data_keys SET status = 'retired'",
        "INSERT INTO data_keys (version, kek_id, wrapped_key, status)"
        " VALUES (9, 'k', 'x', 'primary')",
        "INSERT INTO deletion_certificates (run_id, kind, category, policy_version, counts,"
        " subjects_sha256) VALUES ('r', 'erasure', 'c', 'v', '{}', repeat('0', 64))",
        "INSERT INTO audit_seals (day, timezone, rows, prev_head, head, key_id, signature,"
        " policy_version) VALUES ('2026-01-01', 'UTC', 0, repeat('0', 64), repeat('0', 64), 'k',"
        " 's', 'v')",
        "SELECT audit_ensure_partitions(current_date, current_date)",
        "SELECT * FROM audit_drop_partitions_before(now())",
        "CREATE TABLE intruder (id int)",
    ],
)
async def test_api_role_cannot_do_pipeline_work(conn: asyncpg.Connection, statement: str) -> None:
    await _as(conn, "examstutor_api")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE legal_holds SET released_at = now()",
        "INSERT INTO legal_holds (category, reason, placed_by) VALUES ('sessions', 'r', 'x')",
        "UPDATE consents SET granted = false",
        "CREATE TABLE intruder (id int)",
    ],
)
async def test_pipelines_role_cannot_touch_what_stewards_own(
    conn: asyncpg.Connection, statement: str
) -> None:
    await _as(conn, "examstutor_pipelines")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await conn.execute(statement)


async def test_pipelines_role_maintains_partitions(conn: asyncpg.Connection) -> None:
    await _as(conn, "examstutor_pipelines")
    far = datetime.now(UTC).date().replace(day=1) + timedelta(days=800)
    created = await conn.fetchval("SELECT audit_ensure_partitions($1, $1)", far)
    assert created == 1
    assert await conn.fetchval("SELECT audit_ensure_partitions($1, $1)", far) == 0


async def test_partitions_exist_for_the_coming_months(conn: asyncpg.Connection) -> None:
    await _as(conn, "examstutor_api")
    for months_ahead in (0, 1, 6, 12):
        when = datetime.now(UTC) + timedelta(days=31 * months_ahead)
        await conn.execute("RESET ROLE")
        # the owner may back-date; the API role never can (tested above)
        await conn.execute(
            "INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action,"
            " resource, outcome) VALUES ($1, 'x', 'system', 'data.read', 'x', 'success')",
            when,
        )


async def test_partition_drop_never_touches_the_last_seven_years(conn: asyncpg.Connection) -> None:
    old = datetime(2015, 3, 10, tzinfo=UTC)
    await conn.execute("SELECT audit_ensure_partitions('2015-03-01', '2015-04-30')")
    await conn.execute(
        "INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action, resource,"
        " outcome) VALUES ($1, 'x', 'system', 'data.read', 'x', 'success')",
        old,
    )
    await conn.fetchrow(INSERT_EVENT)
    await _as(conn, "examstutor_pipelines")
    dropped = [
        r[0]
        for r in await conn.fetch("SELECT * FROM audit_drop_partitions_before(now() + '1 year')")
    ]
    assert dropped == ["audit_events_y2015m03", "audit_events_y2015m04"]
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == 1

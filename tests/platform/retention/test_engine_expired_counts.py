"""``expired_counts`` (the ``no_expired_rows`` check): what a run would still do, per
category, holds excluded; zero everywhere once every category has run."""

from __future__ import annotations

import asyncpg
from retention_seed import (
    AT,
    add_practice,
    add_question,
    add_sessions,
    add_student,
    cipher_for,
    days_ago,
    place_hold,
    retention_settings,
)

from examstutor_platform.retention import expired_counts, load_policy, run_category

SETTINGS = retention_settings()
YEARS = 365.25


async def test_every_category_counts_down_to_zero(conn: asyncpg.Connection) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    old = await add_student(
        conn,
        SETTINGS,
        cipher,
        name="Long Gone",
        last_active_at=days_ago(3 * YEARS),
        credentials_used_at=days_ago(3 * YEARS),
    )
    kept = await add_student(
        conn,
        SETTINGS,
        cipher,
        name="Kept Back",
        last_active_at=days_ago(3 * YEARS),
        credentials_used_at=days_ago(3 * YEARS),
    )
    await place_hold(conn, student=kept.id)
    await add_sessions(conn, old.id, [days_ago(40), days_ago(50), days_ago(1)])
    await add_sessions(conn, kept.id, [days_ago(40)])
    for student in (old, kept):
        await add_question(conn, cipher, student.id, "body", days_ago(4 * YEARS))
        await add_practice(conn, student.id, days_ago(4 * YEARS))
    await conn.execute(
        "INSERT INTO security_events (occurred_at, kind) VALUES ($1, 'x'), ($2, 'x')",
        days_ago(6 * YEARS),
        days_ago(1),
    )
    await conn.execute(
        "INSERT INTO cache_entries (key, value, created_at) VALUES ('k', '{}', $1)", days_ago(9)
    )
    await conn.execute("INSERT INTO temp_files (path, created_at) VALUES ('t', $1)", days_ago(2))
    expected = {
        "user_profile": 1,
        "user_credentials": 1,
        "student_questions": 1,
        "student_practice": 1,
        "audit_logs": 0,
        "security_logs": 1,
        "sessions": 2,
        "cache": 1,
        "temp_files": 1,
    }
    assert await expired_counts(conn, SETTINGS, AT) == expected
    await place_hold(conn, category="cache")
    assert (await expired_counts(conn, SETTINGS, AT))["cache"] == 0

    for name in load_policy().names():
        result = await run_category(conn, SETTINGS, name, at=AT, run_id="all")
        assert result.total == (0 if name == "cache" else expected[name])
    assert set((await expired_counts(conn, SETTINGS, AT)).values()) == {0}
    assert await conn.fetchval("SELECT count(*) FROM deletion_certificates") == 9

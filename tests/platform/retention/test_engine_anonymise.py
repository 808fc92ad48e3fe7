"""Anonymise categories: expired rows lose what the policy masks and are marked done,
statistics stay, holds are honoured, a re-run changes nothing; strategies other than
``null`` mask in Python and re-encrypt under the primary key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from retention_seed import (
    AT,
    add_practice,
    add_question,
    add_student,
    audit_events,
    certificates,
    cipher_for,
    days_ago,
    digest_of,
    place_hold,
    pseudonym,
    retention_settings,
)

from examstutor_platform.crypto import DataKeyStore, FieldCipher
from examstutor_platform.db import connect
from examstutor_platform.retention import RetentionError, parse_policy, run_category

SETTINGS = retention_settings()
PII = ("email_enc", "full_name_enc", "phone_enc", "date_of_birth_enc", "guardian_email_enc")
YEARS = 365.25


@pytest.fixture
async def pipelines(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    await connection.execute("SET ROLE examstutor_pipelines")
    try:
        yield connection
    finally:
        await connection.close()


async def _student(conn: asyncpg.Connection, sid: uuid.UUID) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM students WHERE id = $1", sid)
    assert row is not None
    return row


async def test_expired_profiles_lose_identity_and_keep_statistics(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    old = [
        await add_student(conn, SETTINGS, cipher, name=f"Old {n}", last_active_at=days_ago(800 + n))
        for n in range(3)
    ]
    fresh = await add_student(conn, SETTINGS, cipher, name="Fresh One", last_active_at=days_ago(30))
    held = await add_student(conn, SETTINGS, cipher, name="Held One", last_active_at=days_ago(900))
    await place_hold(conn, student=held.id)
    before_fresh = await _student(conn, fresh.id)
    before_held = await _student(conn, held.id)

    result = await run_category(
        pipelines, SETTINGS, "user_profile", at=AT, run_id="anon-1", batch_size=2
    )

    assert result.processed == {"students": 3} and result.held == {"students": 1}
    assert result.batches == 2
    for student in old:
        row = await _student(conn, student.id)
        assert all(row[column] is None for column in PII)
        assert row["email_index"] is None and row["key_version"] is None
        assert row["status"] == "anonymised" and row["age_band"] == "16-17"
        assert row["last_active_at"] == days_ago(800 + old.index(student))
    assert await _student(conn, fresh.id) == before_fresh
    assert await _student(conn, held.id) == before_held
    [certificate] = await certificates(conn, "user_profile")
    assert certificate["kind"] == "anonymisation"
    assert certificate["counts"] == {"students": 3, "held": 1}
    assert certificate["subjects_sha256"] == digest_of(pseudonym(SETTINGS, s.id) for s in old)
    [event] = await audit_events(conn, "ndpr.anonymisation")
    assert event["resource"] == "user_profile" and event["details"]["run_id"] == "anon-1"

    again = await run_category(pipelines, SETTINGS, "user_profile", at=AT, run_id="anon-2")
    assert again.processed == {"students": 0} and again.held_total == 1


async def test_questions_and_practice_are_unlinked(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    ada = await add_student(conn, SETTINGS, cipher, name="Ada Asker")
    bola = await add_student(conn, SETTINGS, cipher, name="Bola Kept")
    await place_hold(conn, student=bola.id)
    old_q = [
        await add_question(conn, cipher, ada.id, f"q{n}", days_ago(4 * YEARS + n)) for n in range(5)
    ]
    orphan_q = await add_question(conn, cipher, None, "orphan", days_ago(4 * YEARS))
    held_q = await add_question(conn, cipher, bola.id, "kept", days_ago(4 * YEARS))
    new_q = await add_question(conn, cipher, ada.id, "recent", days_ago(10))
    old_p = [await add_practice(conn, ada.id, days_ago(3 * YEARS + 5 + n)) for n in range(3)]
    new_p = await add_practice(conn, ada.id, days_ago(100))

    questions = await run_category(
        pipelines, SETTINGS, "student_questions", at=AT, run_id="q", batch_size=2
    )
    practice = await run_category(
        pipelines, SETTINGS, "student_practice", at=AT, run_id="p", batch_size=2
    )

    assert questions.processed == {"questions": 6} and questions.held_total == 1
    assert questions.subjects_sha256 == digest_of([pseudonym(SETTINGS, ada.id)])
    rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM questions")}
    for qid in [*old_q, orphan_q]:
        row = rows[qid]
        assert row["student_id"] is None and row["body_enc"] is None and row["key_version"] is None
        assert row["status"] == "anonymised" and row["anonymised_at"] is not None
        assert row["subject"] == "mathematics"
    for qid, owner, body in ((held_q, bola.id, "kept"), (new_q, ada.id, "recent")):
        row = rows[qid]
        assert row["student_id"] == owner and row["status"] == "open"
        plain = cipher.decrypt_text(
            row["body_enc"], table="questions", column="body_enc", row_id=str(qid)
        )
        assert plain == body

    assert practice.processed == {"practice_sessions": 3}
    sessions = {r["id"]: r for r in await conn.fetch("SELECT * FROM practice_sessions")}
    assert all(sessions[p]["student_id"] is None and sessions[p]["anonymised_at"] for p in old_p)
    assert sessions[new_p]["student_id"] == ada.id and sessions[new_p]["anonymised_at"] is None
    assert await conn.fetchval("SELECT count(*) FROM practice_answers") == 8
    assert [r["score"] for r in sessions.values()] == [1, 1, 1, 1]

    again = await run_category(pipelines, SETTINGS, "student_questions", at=AT, run_id="q2")
    assert again.processed == {"questions": 0}


CUSTOM = """
[categories.user_profile]
period = "P2Y"
legal_basis = "contract"
action = "anonymise"

[[categories.user_profile.tables]]
name = "students"
clock = "last_active_at"
subject_column = "id"

[categories.user_profile.tables.columns]
email_index = "null"
email_enc = "null"
phone_enc = "null"
full_name_enc = { strategy = "redact", params = { replacement = "[removed]" } }
date_of_birth_enc = { strategy = "generalise_date", params = { granularity = "year" } }

[categories.student_practice]
period = "P3Y"
legal_basis = "contract"
action = "anonymise"

[[categories.student_practice.tables]]
name = "practice_sessions"
clock = "created_at"
subject_column = "student_id"

[categories.student_practice.tables.columns]
student_id = "null"
subject = "redact"
exam = { strategy = "hmac_pseudonym", params = { length = 12 } }
"""


async def test_other_strategies_mask_in_python_and_reencrypt(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    policy = parse_policy(CUSTOM, "custom.toml")
    cipher_v1 = await cipher_for(conn, SETTINGS)
    students = [
        await add_student(conn, SETTINGS, cipher_v1, name=f"Old {n}", last_active_at=days_ago(900))
        for n in range(3)
    ]
    sessions = [await add_practice(conn, students[0].id, days_ago(4 * YEARS)) for _ in range(3)]
    version = await DataKeyStore().create_primary(conn, SETTINGS.keks)
    cipher = FieldCipher(await DataKeyStore().load(conn, SETTINGS.keks))

    profile = await run_category(
        pipelines, SETTINGS, "user_profile", at=AT, run_id="c1", batch_size=2, policy=policy
    )
    unlinked = await run_category(
        pipelines, SETTINGS, "student_practice", at=AT, run_id="c2", policy=policy
    )

    assert profile.processed == {"students": 3} and unlinked.processed == {"practice_sessions": 3}
    for student in students:
        row = await _student(conn, student.id)
        assert row["status"] == "anonymised" and row["key_version"] == version
        assert row["email_enc"] is None and row["phone_enc"] is None and row["email_index"] is None

        def text(column: str, row: asyncpg.Record = row, sid: uuid.UUID = student.id) -> str:
            value = row[column]
            assert FieldCipher.key_version(value) == version
            return cipher.decrypt_text(value, table="students", column=column, row_id=str(sid))

        assert text("full_name_enc") == "[removed]"
        assert text("date_of_birth_enc") == "2009"
        assert text("guardian_email_enc") == student.guardian_email
    for session in sessions:
        practice = await conn.fetchrow("SELECT * FROM practice_sessions WHERE id = $1", session)
        assert practice is not None
        assert practice["student_id"] is None and practice["subject"] == "[redacted]"
        assert len(practice["exam"]) == 12 and practice["exam"] != "WAEC"
        assert practice["anonymised_at"] is not None
    again = await run_category(
        pipelines, SETTINGS, "user_profile", at=AT, run_id="c3", policy=policy
    )
    assert again.processed == {"students": 0}


async def test_a_policy_table_must_fit_the_schema(pipelines: asyncpg.Connection) -> None:
    policy = parse_policy(
        CUSTOM.replace('name = "practice_sessions"', 'name = "practice_sessionz"'), "bad.toml"
    )
    with pytest.raises(RetentionError, match=r"practice_sessionz.*no such table"):
        await run_category(
            pipelines, SETTINGS, "student_practice", at=AT, run_id="x", policy=policy
        )

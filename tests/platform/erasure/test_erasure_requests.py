"""Erasure requests: legal holds put them on hold with the reason (and release resumes
them), a completed request is never done twice, malformed requests are refused, and
the sensor's and the check's queries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from retention_seed import (
    AT,
    audit_events,
    certificates,
    cipher_for,
    place_hold,
    retention_settings,
    seed_subject,
    snapshot,
)

from examstutor_platform.db import connect
from examstutor_platform.erasure import (
    ErasureError,
    erase_subject,
    erasure_categories,
    overdue_requests,
    pending_erasure_work,
)
from examstutor_platform.retention import load_policy

SETTINGS = retention_settings()
TABLES = ("students", "credentials", "auth_sessions", "questions", "practice_sessions", "outbox")


@pytest.fixture
async def pipelines(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    await connection.execute("SET ROLE examstutor_pipelines")
    try:
        yield connection
    finally:
        await connection.close()


async def _pending_ids(conn: asyncpg.Connection) -> list[uuid.UUID]:
    return [item.id for item in await pending_erasure_work(conn)]


async def _status(conn: asyncpg.Connection, request_id: uuid.UUID) -> tuple[str, str | None]:
    row = await conn.fetchrow(
        "SELECT status, hold_reason FROM dsr_requests WHERE id = $1", request_id
    )
    assert row is not None
    return row["status"], row["hold_reason"]


def test_holds_on_categories_an_erasure_touches_hold_it() -> None:
    assert set(erasure_categories(load_policy())) == {
        "user_profile",
        "user_credentials",
        "student_questions",
        "student_practice",
        "security_logs",
        "sessions",
        "temp_files",
    }


@pytest.mark.parametrize("hold_on", ["student", "user_profile", "sessions"])
async def test_a_held_subject_ends_on_hold_with_the_reason(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection, hold_on: str
) -> None:
    subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Held Person")
    if hold_on == "student":
        await place_hold(conn, student=subject.student.id, reason="court order 17/2026")
    else:
        await place_hold(conn, category=hold_on, reason="court order 17/2026")
    before = await snapshot(conn, TABLES)

    result = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="e1")
    again = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="e2")

    for outcome in (result, again):
        assert outcome.status == "on_hold" and outcome.hold_reason == "court order 17/2026"
        assert outcome.certificate_id is None
    assert await _status(conn, subject.request_id) == ("on_hold", "court order 17/2026")
    assert await snapshot(conn, TABLES) == before
    assert await certificates(conn) == []
    [event] = await audit_events(conn, "ndpr.erasure_request")
    assert event["outcome"] == "denied" and event["resource_id"] == subject.pseudonym
    assert await _pending_ids(pipelines) == []

    await conn.execute("UPDATE legal_holds SET released_at = now(), released_by = 'stf_x'")
    assert await _pending_ids(pipelines) == [subject.request_id]
    done = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="e3")
    assert done.status == "completed" and done.counts["students"] == 1
    assert await _status(conn, subject.request_id) == ("completed", None)
    assert await _pending_ids(pipelines) == []


async def test_a_hold_placed_while_in_progress_stops_the_erasure(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Half Way")
    # an earlier run got as far as in_progress, then a steward placed a hold
    await conn.execute("UPDATE dsr_requests SET status = 'in_progress'")
    await place_hold(conn, student=subject.student.id, reason="fraud inquiry")
    result = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="e1")
    assert result.status == "on_hold" and result.hold_reason == "fraud inquiry"
    assert await conn.fetchval("SELECT count(*) FROM credentials") == 1


async def test_a_hold_elsewhere_does_not_hold_the_erasure(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    subject = await seed_subject(conn, SETTINGS, cipher, "Free Person")
    other = await seed_subject(conn, SETTINGS, cipher, "Other Person", request=False)
    await place_hold(conn, student=other.student.id)
    await place_hold(conn, category="cache")
    result = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="e1")
    assert result.status == "completed"


async def test_a_completed_request_is_not_done_twice(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    subject = await seed_subject(conn, SETTINGS, cipher, "Once Only")
    first = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="run-1")
    after = await snapshot(conn, (*TABLES, "deletion_certificates", "dsr_requests"))
    again = await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="run-2")

    assert again.already_done and again.status == "completed"
    assert again.certificate_id == first.certificate_id
    assert again.counts == first.counts and again.subjects_sha256 == first.subjects_sha256
    assert await snapshot(conn, (*TABLES, "deletion_certificates", "dsr_requests")) == after
    assert len(await audit_events(conn, "ndpr.erasure_completed")) == 1

    # a run id certifies one request: reusing it for another changes nothing
    second = await seed_subject(conn, SETTINGS, cipher, "Second Person")
    with pytest.raises(ErasureError, match="already certified"):
        await erase_subject(pipelines, SETTINGS, second.request_id, run_id="run-1")
    assert await _status(conn, second.request_id) == ("in_progress", None)
    assert (
        await conn.fetchval("SELECT status FROM students WHERE id = $1", second.student.id)
        == "active"
    )


async def test_requests_that_are_not_erasures_are_refused(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Some One")
    with pytest.raises(ErasureError, match="no data-subject request"):
        await erase_subject(pipelines, SETTINGS, uuid.uuid4(), run_id="x")
    export = await conn.fetchval(
        "INSERT INTO dsr_requests (student_id, type, due_at) VALUES ($1, 'export',"
        " now() + interval '1 day') RETURNING id",
        subject.student.id,
    )
    with pytest.raises(ErasureError, match="export request"):
        await erase_subject(pipelines, SETTINGS, export, run_id="x")
    await conn.execute(
        "UPDATE dsr_requests SET status = 'rejected' WHERE id = $1", subject.request_id
    )
    with pytest.raises(ErasureError, match="rejected"):
        await erase_subject(pipelines, SETTINGS, subject.request_id, run_id="x")


async def test_pending_and_overdue_requests(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    student = uuid.uuid4()
    rows = [
        ("erasure", "pending", 40, 10),
        ("erasure", "in_progress", 35, 5),
        ("export", "pending", 45, 15),
        ("access", "completed", 50, 20),
        ("erasure", "on_hold", 60, 30),
    ]
    ids = []
    for kind, status, received, due in rows:
        ids.append(
            await conn.fetchval(
                "INSERT INTO dsr_requests (student_id, type, status, received_at, due_at)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                uuid.uuid4()
                if kind != "erasure"
                else student
                if status == "pending"
                else uuid.uuid4(),
                kind,
                status,
                AT - timedelta(days=received),
                AT - timedelta(days=due),
            )
        )
    await place_hold(conn, student=student)
    # the on_hold request's student has no hold any more, so it is pending again; the
    # pending one's student is held (the run will put it on hold)
    assert await _pending_ids(pipelines) == [ids[4], ids[0], ids[1]]
    overdue = await overdue_requests(pipelines, AT)
    assert [r.id for r in overdue] == [ids[2], ids[0], ids[1]]
    assert {r.type for r in overdue} == {"erasure", "export"}
    assert await overdue_requests(pipelines, AT - timedelta(days=100)) == []

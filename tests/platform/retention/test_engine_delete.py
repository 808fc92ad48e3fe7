"""Delete categories: only rows past the cutoff go, in batches, legal holds honoured, one
certificate and one audit event per run, and a re-run does nothing twice. Every run
here connects as the ``examstutor_pipelines`` role."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from retention_seed import (
    AT,
    add_sessions,
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

from examstutor_platform.db import connect
from examstutor_platform.retention import (
    RetentionBusyError,
    RetentionError,
    batches,
    load_policy,
    run_category,
)

SETTINGS = retention_settings()
POLICY = load_policy()


@pytest.fixture
async def pipelines(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection acting as the pipelines' database role."""
    connection = await connect(database_url)
    await connection.execute("SET ROLE examstutor_pipelines")
    try:
        yield connection
    finally:
        await connection.close()


async def _count(conn: asyncpg.Connection, table: str) -> int:
    n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return n


async def test_sessions_past_cutoff_are_deleted_except_held_students(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    free = await add_student(conn, SETTINGS, cipher, name="Ada Free")
    held = await add_student(conn, SETTINGS, cipher, name="Bola Held")
    staff = uuid.uuid4()
    await add_sessions(conn, free.id, [days_ago(31), days_ago(45), days_ago(90), days_ago(5)])
    await add_sessions(conn, held.id, [days_ago(40), days_ago(60), days_ago(1)])
    await add_sessions(conn, staff, [days_ago(35)], kind="staff")
    await place_hold(conn, student=held.id)

    result = await run_category(
        pipelines, SETTINGS, "sessions", at=AT, run_id="run-1", batch_size=2
    )

    assert result.processed == {"auth_sessions": 4}
    assert result.held == {"auth_sessions": 2} and result.held_total == 2
    assert result.batches == 2 and not result.resumed and not result.already_certified
    left = await conn.fetch("SELECT subject_id, last_used_at FROM auth_sessions")
    assert sorted((r["subject_id"], r["last_used_at"]) for r in left) == sorted(
        [
            (free.id, days_ago(5)),
            (held.id, days_ago(40)),
            (held.id, days_ago(60)),
            (held.id, days_ago(1)),
        ]
    )
    expected = digest_of([pseudonym(SETTINGS, free.id), pseudonym(SETTINGS, staff, "staff")])
    [certificate] = await certificates(conn, "sessions")
    assert certificate["run_id"] == "run-1" and certificate["kind"] == "retention"
    assert certificate["counts"] == {"auth_sessions": 4, "held": 2}
    assert certificate["subjects_sha256"] == expected == result.subjects_sha256
    assert certificate["policy_version"] == POLICY.version
    assert certificate["cutoff"] == POLICY.category("sessions").cutoff(AT) == result.cutoff
    assert certificate["id"] == result.certificate_id
    [event] = await audit_events(conn, "ndpr.retention_expiry")
    assert event["actor_pseudonym"] == "pipelines" and event["actor_role"] == "system"
    assert event["resource"] == "sessions" and event["resource_id"] is None
    assert event["details"]["counts"] == {"auth_sessions": 4, "held": 2}
    assert event["details"]["certificate_id"] == str(result.certificate_id)
    assert await _count(conn, "retention_progress") == 0, "progress entries are cleared"


async def test_security_logs_span_two_tables_without_subjects(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    years = 365.25
    await conn.executemany(
        "INSERT INTO security_events (occurred_at, kind) VALUES ($1, 'login_failed')",
        [(days_ago(5 * years + d),) for d in range(1, 11)] + [(days_ago(d),) for d in (1, 2, 3)],
    )
    # login_attempts has no index leading with its clock: batches walk its primary key
    await conn.executemany(
        "INSERT INTO login_attempts (email_index, ip_prefix, attempted_at) VALUES ($1, $2, $3)",
        [(bytes(32), "102.89.1.0/24", days_ago(5 * years + 30 - d)) for d in range(25)]
        + [(bytes(32), "102.89.1.0/24", days_ago(d)) for d in range(5)],
    )
    result = await run_category(
        pipelines, SETTINGS, "security_logs", at=AT, run_id="run-sec", batch_size=4
    )
    assert result.processed == {"security_events": 10, "login_attempts": 25}
    assert result.batches == 3 + 7
    assert await _count(conn, "security_events") == 3
    assert await _count(conn, "login_attempts") == 5
    [certificate] = await certificates(conn, "security_logs")
    assert certificate["counts"] == {"security_events": 10, "login_attempts": 25, "held": 0}
    assert certificate["subjects_sha256"] == digest_of([])


async def test_credentials_cache_and_temp_files(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    old = await add_student(
        conn, SETTINGS, cipher, name="Old Login", credentials_used_at=days_ago(800)
    )
    new = await add_student(
        conn, SETTINGS, cipher, name="New Login", credentials_used_at=days_ago(20)
    )
    held = await add_student(
        conn, SETTINGS, cipher, name="Held Login", credentials_used_at=days_ago(900)
    )
    await place_hold(conn, student=held.id)
    await conn.executemany(
        "INSERT INTO cache_entries (key, value, created_at) VALUES ($1, '{}', $2)",
        [
            ("old-1", days_ago(8)),
            ("old-2", days_ago(30)),
            ("fresh", days_ago(1)),
        ],
    )
    await conn.executemany(
        "INSERT INTO temp_files (path, created_at) VALUES ($1, $2)",
        [("exports/a.zip", days_ago(2)), ("exports/b.zip", days_ago(0.5))],
    )

    creds = await run_category(pipelines, SETTINGS, "user_credentials", at=AT, run_id="r")
    cache = await run_category(pipelines, SETTINGS, "cache", at=AT, run_id="r")
    temp = await run_category(pipelines, SETTINGS, "temp_files", at=AT, run_id="r")

    assert creds.processed == {"credentials": 1} and creds.held_total == 1
    assert creds.subjects_sha256 == digest_of([pseudonym(SETTINGS, old.id)])
    left = {r[0] for r in await conn.fetch("SELECT student_id FROM credentials")}
    assert left == {new.id, held.id}
    assert cache.processed == {"cache_entries": 2}
    keys = {r[0] for r in await conn.fetch("SELECT key FROM cache_entries")}
    assert keys == {"fresh"}
    assert temp.processed == {"temp_files": 1}
    assert [r[0] for r in await conn.fetch("SELECT path FROM temp_files")] == ["exports/b.zip"]


async def test_a_category_hold_skips_the_category(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    sid = uuid.uuid4()
    await add_sessions(conn, sid, [days_ago(40), days_ago(50), days_ago(2)])
    hold = await place_hold(conn, category="sessions", reason="regulator inquiry")
    preview = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="p", preview=True)
    result = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="run-held")

    for outcome in (preview, result):
        assert outcome.category_hold is not None and outcome.category_hold.id == hold
        assert outcome.category_hold.reason == "regulator inquiry"
        assert outcome.processed == {"auth_sessions": 0} and outcome.held_total == 2
    assert preview.sample == ()
    assert await _count(conn, "auth_sessions") == 3
    [certificate] = await certificates(conn, "sessions")
    assert certificate["counts"] == {"auth_sessions": 0, "held": 2}
    assert certificate["subjects_sha256"] == digest_of([])

    await conn.execute("UPDATE legal_holds SET released_at = now(), released_by = 'stf_x'")
    released = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="run-released")
    assert released.processed == {"auth_sessions": 2} and released.category_hold is None


async def test_a_rerun_does_nothing_twice(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    sid = uuid.uuid4()
    await add_sessions(conn, sid, [days_ago(31 + d) for d in range(7)])
    first = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="once", batch_size=3)
    # rows that expire after the first run are not the business of the same run id
    await add_sessions(conn, sid, [days_ago(100)])
    again = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="once", batch_size=3)
    assert again.already_certified and again.batches == 0
    assert again.processed == first.processed == {"auth_sessions": 7}
    assert again.certificate_id == first.certificate_id
    assert again.subjects_sha256 == first.subjects_sha256
    assert await _count(conn, "auth_sessions") == 1
    assert len(await certificates(conn)) == 1
    assert len(await audit_events(conn, "ndpr.retention_expiry")) == 1

    later = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="next")
    assert later.processed == {"auth_sessions": 1}
    nothing = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="after")
    assert nothing.processed == {"auth_sessions": 0} and nothing.batches == 0
    assert nothing.subjects_sha256 == digest_of([])


async def test_preview_changes_nothing_and_predicts_the_run(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    students = [await add_student(conn, SETTINGS, cipher, name=f"Pupil {n}") for n in range(8)]
    for student in students:
        await add_sessions(conn, student.id, [days_ago(40), days_ago(3)])
    await place_hold(conn, student=students[0].id)

    async def state() -> tuple[object, ...]:
        return (
            await conn.fetch("SELECT * FROM auth_sessions ORDER BY jti"),
            await conn.fetch("SELECT * FROM retention_progress ORDER BY category, attempt"),
            await _count(conn, "deletion_certificates"),
            await _count(conn, "audit_events"),
        )

    before = await state()
    preview = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="p", preview=True)
    assert await state() == before
    assert preview.preview and preview.certificate_id is None
    assert preview.processed == {"auth_sessions": 7} and preview.held_total == 1
    assert len(preview.sample) == 5
    result = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="real")
    assert result.processed == preview.processed and result.held == preview.held
    every = {pseudonym(SETTINGS, s.id) for s in students[1:]}
    assert set(preview.sample) <= every
    assert result.subjects_sha256 == digest_of(every)
    metadata = result.metadata()
    assert metadata["rows"] == 7 and metadata["held_rows"] == 1
    assert all("@" not in str(value) for value in metadata.values())


async def test_one_run_per_category_at_a_time(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    await conn.execute(
        "SELECT pg_advisory_lock(hashtextextended('examstutor:retention:sessions', 0))"
    )
    with pytest.raises(RetentionBusyError, match="another run"):
        await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="x", lock_wait=0.2)
    async with pipelines.transaction():
        with pytest.raises(RetentionError, match="outside a transaction"):
            await run_category(pipelines, SETTINGS, "cache", at=AT, run_id="x")


@pytest.mark.parametrize(("bulk", "by_ctid"), [(True, 32), (None, 32), (True, 0)])
async def test_the_bulk_path_deletes_the_same_rows(
    conn: asyncpg.Connection,
    pipelines: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    bulk: bool | None,
    by_ctid: int,
) -> None:
    """Held rows are left out by ctid where a range has few (at most HELD_BY_CTID),
    else by looking each row's student up in the holds: the same rows either way."""
    monkeypatch.setattr(batches, "HELD_BY_CTID", by_ctid)
    held, staff = uuid.uuid4(), uuid.uuid4()
    free = [uuid.uuid4() for _ in range(30)]
    for sid in free:
        await add_sessions(conn, sid, [days_ago(31 + n) for n in range(20)] + [days_ago(2)])
    await add_sessions(conn, held, [days_ago(50)] * 5)
    await add_sessions(conn, staff, [days_ago(60)], kind="staff")
    await place_hold(conn, student=held)
    await conn.execute("ANALYZE auth_sessions")  # the automatic choice reads the statistics
    blocks = await conn.fetchval("SELECT pg_relation_size('auth_sessions') / 8192")

    result = await run_category(
        pipelines, SETTINGS, "sessions", at=AT, run_id="bulk", batch_size=20, bulk=bulk
    )

    assert result.processed == {"auth_sessions": 601} and result.held_total == 5
    assert 1 < result.batches <= blocks, "one range of blocks per batch"
    left = await conn.fetch("SELECT subject_id, last_used_at FROM auth_sessions")
    assert len(left) == 35
    assert all(r["subject_id"] == held or r["last_used_at"] == days_ago(2) for r in left)
    subjects = [pseudonym(SETTINGS, s) for s in free] + [pseudonym(SETTINGS, staff, "staff")]
    assert result.subjects_sha256 == digest_of(subjects)
    [certificate] = await certificates(conn, "sessions")
    assert certificate["counts"] == {"auth_sessions": 601, "held": 5}


async def _until_a_session_waits_for_a_lock(conn: asyncpg.Connection) -> None:
    query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    waiting = 0
    while not waiting:
        await asyncio.sleep(0.01)
        waiting = await conn.fetchval(query)


async def test_a_row_changed_under_a_bulk_batch_is_retried_not_lost(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection, database_url: str
) -> None:
    subjects = [uuid.uuid4() for _ in range(20)]
    for sid in subjects:
        await add_sessions(conn, sid, [days_ago(40 + n) for n in range(10)])
    first = await conn.fetchrow("SELECT jti, subject_id FROM auth_sessions WHERE ctid = '(0,1)'")
    assert first is not None
    other = await connect(database_url)
    try:
        # another session revokes the token: it holds the row until it commits
        locker = other.transaction()
        await locker.start()
        await other.execute(
            "UPDATE auth_sessions SET revoked_at = now() WHERE jti = $1", first["jti"]
        )
        run = asyncio.create_task(
            run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="race", bulk=True)
        )
        async with asyncio.timeout(30):
            await _until_a_session_waits_for_a_lock(conn)
        await locker.commit()  # the batch's DELETE now fails to serialise, and is re-run
        result = await run
    finally:
        await other.close()
    assert result.processed == {"auth_sessions": 200}
    assert await conn.fetchval("SELECT count(*) FROM auth_sessions") == 0
    assert result.subjects_sha256 == digest_of(pseudonym(SETTINGS, s) for s in subjects)


async def test_the_session_commits_synchronously_again_after_a_run_however_it_ends(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    """Batches commit asynchronously (synchronous_commit off for the walk); the
    connection gets its setting back after the run, also after one that failed."""
    sid = uuid.uuid4()
    await add_sessions(conn, sid, [days_ago(40 + n) for n in range(6)])

    def stop(report: object) -> None:
        raise RuntimeError("stopped by its caller")

    with pytest.raises(RuntimeError, match="stopped by its caller"):
        await run_category(
            pipelines, SETTINGS, "sessions", at=AT, run_id="s", batch_size=2, progress=stop
        )
    assert await pipelines.fetchval("SHOW synchronous_commit") == "on"
    assert await _count(conn, "auth_sessions") == 4, "the first batch committed"
    result = await run_category(pipelines, SETTINGS, "sessions", at=AT, run_id="s")
    assert result.processed == {"auth_sessions": 6} and result.resumed
    assert await pipelines.fetchval("SHOW synchronous_commit") == "on"

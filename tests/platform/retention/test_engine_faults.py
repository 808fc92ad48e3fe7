"""A retention run killed with SIGKILL at several points, or cut off by a database
restart (clean or a crash), finishes when run again: every expired row processed
exactly once, exactly one certificate whose counts and subjects are the whole run's,
one audit event, no progress entry left behind."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from retention_seed import (
    AT,
    SETTINGS_ENV,
    add_sessions,
    audit_events,
    certificates,
    days_ago,
    digest_of,
    place_hold,
    pseudonym,
    retention_settings,
)

from examstutor_platform.db import EmbeddedPostgres, connect
from examstutor_platform.retention import BatchProgress, RetentionError, run_category
from examstutor_platform.retention.subjects import split_ids

SETTINGS = retention_settings()
SUBJECTS = 40
PER_SUBJECT = 10
BATCH = 16
EXPIRED = SUBJECTS * PER_SUBJECT
# A retention run in a child process; it kills itself (SIGKILL) right after the batch
# numbered argv[5] has committed (0: never), or pauses per batch for outside kills.
# argv[7] "bulk" forces the block-range path, anything else the keyset path.
CHILD = """
import asyncio, json, os, signal, sys, time
from datetime import datetime
from examstutor_platform.retention import run_category
from examstutor_platform.settings import Settings

url, env, run_id, batch, kill_after, at, bulk = sys.argv[1:8]

def progress(p):
    if int(kill_after) and p.batch >= int(kill_after):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.002)

asyncio.run(run_category(url, Settings.from_env(json.loads(env)), "sessions",
                         at=datetime.fromisoformat(at), run_id=run_id, batch_size=int(batch),
                         progress=progress, bulk=bulk == "bulk"))
"""


class Seeded:
    """Sessions of many students, some held, some fresh."""

    def __init__(self) -> None:
        self.free = [uuid.uuid4() for _ in range(SUBJECTS)]
        self.held = uuid.uuid4()


async def _seed(conn: asyncpg.Connection) -> Seeded:
    seeded = Seeded()
    for sid in seeded.free:
        await add_sessions(
            conn, sid, [days_ago(31 + n) for n in range(PER_SUBJECT)] + [days_ago(1)]
        )
    await add_sessions(conn, seeded.held, [days_ago(40), days_ago(41)])
    await place_hold(conn, student=seeded.held)
    return seeded


async def _child(url: str, run_id: str, kill_after: int, bulk: bool = False) -> int:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        json.dumps(dict(SETTINGS_ENV)),
        run_id,
        str(BATCH),
        str(kill_after),
        AT.isoformat(),
        "bulk" if bulk else "keyset",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    assert child.returncode is not None
    if child.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(err.decode())
    return child.returncode


async def _assert_complete(conn: asyncpg.Connection, seeded: Seeded, run_id: str) -> None:
    left = await conn.fetch("SELECT subject_id, last_used_at FROM auth_sessions")
    assert len(left) == SUBJECTS + 2
    assert all(r["subject_id"] == seeded.held or r["last_used_at"] == days_ago(1) for r in left)
    [certificate] = await certificates(conn, "sessions")
    assert certificate["run_id"] == run_id
    assert certificate["counts"] == {"auth_sessions": EXPIRED, "held": 2}
    assert certificate["subjects_sha256"] == digest_of(pseudonym(SETTINGS, s) for s in seeded.free)
    assert len(await audit_events(conn, "ndpr.retention_expiry")) == 1
    assert await conn.fetchval("SELECT count(*) FROM retention_progress") == 0


@pytest.mark.parametrize("kill_after", [1, 7, EXPIRED // BATCH])
async def test_killed_after_a_batch_then_rerun(
    conn: asyncpg.Connection, database_url: str, kill_after: int
) -> None:
    seeded = await _seed(conn)
    assert await _child(database_url, "run-k", kill_after) == -signal.SIGKILL
    done = (
        EXPIRED
        - await conn.fetchval(
            "SELECT count(*) FROM auth_sessions WHERE last_used_at < $1", days_ago(30)
        )
        + 2
    )
    assert done == kill_after * BATCH, "every committed batch is durable, no more"
    assert await certificates(conn) == []

    result = await run_category(
        conn, SETTINGS, "sessions", at=AT, run_id="run-k", batch_size=BATCH, bulk=False
    )

    assert result.resumed and result.processed == {"auth_sessions": EXPIRED}
    assert result.batches == EXPIRED // BATCH - kill_after
    await _assert_complete(conn, seeded, "run-k")


async def test_killed_at_a_random_moment_then_rerun(
    conn: asyncpg.Connection, database_url: str
) -> None:
    seeded = await _seed(conn)
    killed = 0
    for attempt in range(3):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD,
            database_url,
            json.dumps(dict(SETTINGS_ENV)),
            "run-r",
            str(BATCH),
            "0",
            AT.isoformat(),
            "bulk" if attempt == 1 else "keyset",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(60):
            while child.returncode is None:
                entries = await conn.fetchval("SELECT count(*) FROM retention_progress")
                if entries >= 2 + 3 * attempt:
                    child.send_signal(signal.SIGKILL)
                    break
                await asyncio.sleep(0.001)
        killed += await child.wait() == -signal.SIGKILL
    assert killed >= 1
    await run_category(conn, SETTINGS, "sessions", at=AT, run_id="run-r", batch_size=BATCH)
    await _assert_complete(conn, seeded, "run-r")


@pytest.mark.parametrize("kill_after", [1, 2])
async def test_bulk_path_killed_then_rerun(
    conn: asyncpg.Connection, database_url: str, kill_after: int
) -> None:
    seeded = await _seed(conn)
    assert await _child(database_url, "run-bulk", kill_after, bulk=True) == -signal.SIGKILL
    assert await certificates(conn) == []
    result = await run_category(
        conn, SETTINGS, "sessions", at=AT, run_id="run-bulk", batch_size=BATCH, bulk=True
    )
    assert result.resumed and result.processed == {"auth_sessions": EXPIRED}
    await _assert_complete(conn, seeded, "run-bulk")


async def _seed_interleaved(conn: asyncpg.Connection) -> Seeded:
    """The same students as :func:`_seed`, their sessions interleaved (every batch but
    the first few names only students an earlier batch named)."""
    seeded = Seeded()
    for n in range(PER_SUBJECT):
        for sid in seeded.free:
            await add_sessions(conn, sid, [days_ago(31 + n)])
    for sid in seeded.free:
        await add_sessions(conn, sid, [days_ago(1)])
    await add_sessions(conn, seeded.held, [days_ago(40), days_ago(41)])
    await place_hold(conn, student=seeded.held)
    return seeded


# the block-range walk has one batch per heap block here (about 90 sessions)
@pytest.mark.parametrize(("bulk", "kill_after"), [(False, 7), (True, 2)])
async def test_progress_names_each_subject_once_and_a_rerun_certifies_them_all(
    conn: asyncpg.Connection, database_url: str, bulk: bool, kill_after: int
) -> None:
    seeded = await _seed_interleaved(conn)
    before = await _expired_by_subject(conn)
    assert await _child(database_url, "run-i", kill_after, bulk=bulk) == -signal.SIGKILL

    entries = await conn.fetch("SELECT row_count, students FROM retention_progress")
    after = await _expired_by_subject(conn)
    assert len(entries) == kill_after
    assert sum(e["row_count"] for e in entries) == sum(before.values()) - sum(after.values())
    named = [uuid.UUID(bytes=raw) for e in entries for raw in split_ids(e["students"])]
    touched = {s for s in before if after[s] < before[s]}
    assert len(named) == len(set(named)), "each subject recorded once per attempt"
    assert set(named) == touched
    assert any(e["students"] == b"" for e in entries), "later batches name no one new"

    result = await run_category(
        conn, SETTINGS, "sessions", at=AT, run_id="run-i", batch_size=BATCH, bulk=bulk
    )
    assert result.resumed and result.processed == {"auth_sessions": EXPIRED}
    assert result.subjects == SUBJECTS
    await _assert_complete(conn, seeded, "run-i")


async def _expired_by_subject(conn: asyncpg.Connection) -> Counter[uuid.UUID]:
    rows = await conn.fetch(
        "SELECT subject_id FROM auth_sessions WHERE last_used_at < $1", days_ago(30)
    )
    return Counter(row["subject_id"] for row in rows)


async def test_a_run_killed_and_never_resumed_is_certified_by_the_next(
    conn: asyncpg.Connection, database_url: str
) -> None:
    seeded = await _seed(conn)
    before = await _expired_by_subject(conn)
    await _child(database_url, "run-a", 5)
    middle = await _expired_by_subject(conn)
    result = await run_category(conn, SETTINGS, "sessions", at=AT, run_id="run-b", batch_size=BATCH)

    assert result.adopted_runs == ("run-a",)
    certs = {c["run_id"]: c for c in await certificates(conn, "sessions")}
    assert certs["run-a"]["counts"] == {"auth_sessions": 5 * BATCH}
    assert certs["run-b"]["counts"] == {"auth_sessions": EXPIRED - 5 * BATCH, "held": 2}
    by_a = {s for s in before if middle[s] < before[s]}
    by_b = {s for s in middle if s != seeded.held}
    assert certs["run-a"]["subjects_sha256"] == digest_of(pseudonym(SETTINGS, s) for s in by_a)
    assert certs["run-b"]["subjects_sha256"] == digest_of(pseudonym(SETTINGS, s) for s in by_b)
    assert by_a | by_b == set(seeded.free)
    events = await audit_events(conn, "ndpr.retention_expiry")
    assert [e["details"]["run_id"] for e in events] == ["run-a", "run-b"]
    assert events[0]["details"]["completed_by_run"] == "run-b"
    assert await conn.fetchval("SELECT count(*) FROM retention_progress") == 0
    assert await conn.fetchval("SELECT count(*) FROM auth_sessions") == SUBJECTS + 2


@pytest.fixture
def server(pg_server: EmbeddedPostgres | None) -> EmbeddedPostgres:
    if pg_server is None:
        pytest.skip("needs the embedded server to restart it")
    return pg_server


@pytest.fixture
async def own_conn(
    database_url: str, server: EmbeddedPostgres
) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    yield connection
    if not connection.is_closed():
        await connection.close()


# a clean stop during a keyset walk, a crash (immediate) during a block-range walk
@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_database_restart_mid_run_then_rerun(
    database_url: str, server: EmbeddedPostgres, own_conn: asyncpg.Connection, mode: str
) -> None:
    seeded = await _seed(own_conn)
    await own_conn.close()

    def restart_at_third(progress: BatchProgress) -> None:
        if progress.batch == 3:
            server.stop(mode)

    try:
        with pytest.raises(RetentionError, match="run it again"):
            await run_category(
                database_url,
                SETTINGS,
                "sessions",
                at=AT,
                run_id="run-db",
                batch_size=BATCH,
                progress=restart_at_third,
                bulk=mode == "immediate",
            )
    finally:
        server.start()
    conn = await connect(database_url)
    try:
        result = await run_category(
            conn, SETTINGS, "sessions", at=AT, run_id="run-db", batch_size=BATCH
        )
        assert result.processed == {"auth_sessions": EXPIRED}
        await _assert_complete(conn, seeded, "run-db")
    finally:
        await conn.close()

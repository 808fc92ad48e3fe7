"""An erasure killed with SIGKILL after it started, or inside its final transaction, or
cut off by a database restart, completes when run again: every row counted once, one
certificate, one completion event."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import asyncpg
import pytest
from retention_seed import (
    SETTINGS_ENV,
    Subject,
    audit_events,
    certificates,
    cipher_for,
    retention_settings,
    seed_subject,
)

from examstutor_platform.db import EmbeddedPostgres, connect
from examstutor_platform.erasure import ErasureError, erase_subject

SETTINGS = retention_settings()
EXPECTED = {
    "login_attempts": 2,
    "credentials": 1,
    "auth_sessions": 3,
    "guardian_consent_tokens": 1,
    "outbox": 1,
    "temp_files": 1,
    "questions": 2,
    "practice_sessions": 2,
    "students": 1,
}
# An erasure in a child process that kills itself (SIGKILL) at the stage argv[4].
CHILD = """
import asyncio, json, os, signal, sys, uuid
from examstutor_platform.erasure import erase_subject
from examstutor_platform.settings import Settings

url, env, request_id, stage = sys.argv[1:5]

def progress(reached):
    if reached == stage:
        os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(erase_subject(url, Settings.from_env(json.loads(env)), uuid.UUID(request_id),
                          "erase-killed", progress=progress))
"""


async def _assert_erased(conn: asyncpg.Connection, subject: Subject, run_id: str) -> None:
    [certificate] = await certificates(conn, "erasure")
    assert certificate["counts"] == EXPECTED and certificate["run_id"] == run_id
    assert len(await audit_events(conn, "ndpr.erasure_completed")) == 1
    row = await conn.fetchrow(
        "SELECT status, email_enc FROM students WHERE id = $1", subject.student.id
    )
    assert row is not None and row["status"] == "erased" and row["email_enc"] is None
    status = await conn.fetchval(
        "SELECT status FROM dsr_requests WHERE id = $1", subject.request_id
    )
    assert status == "completed"


@pytest.mark.parametrize(
    ("stage", "status"), [("started", "in_progress"), ("applied", "in_progress")]
)
async def test_killed_mid_erasure_then_rerun(
    conn: asyncpg.Connection, database_url: str, stage: str, status: str
) -> None:
    subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Killed Twice")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        database_url,
        json.dumps(dict(SETTINGS_ENV)),
        str(subject.request_id),
        stage,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()
    assert (
        await conn.fetchval("SELECT status FROM dsr_requests WHERE id = $1", subject.request_id)
        == status
    )
    assert await conn.fetchval("SELECT count(*) FROM credentials") == 1, "nothing half done"
    assert await certificates(conn) == []

    result = await erase_subject(conn, SETTINGS, subject.request_id, run_id="erase-2")

    assert result.status == "completed" and dict(result.counts) == EXPECTED
    await _assert_erased(conn, subject, "erase-2")


async def test_database_restart_inside_the_erasure_then_rerun(
    database_url: str, pg_server: EmbeddedPostgres | None
) -> None:
    if pg_server is None:
        pytest.skip("needs the embedded server to restart it")
    server = pg_server
    conn = await connect(database_url)
    try:
        subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Restart Me")
    finally:
        await conn.close()

    def stop_inside(stage: str) -> None:
        if stage == "applied":
            server.stop("immediate")

    try:
        with pytest.raises(ErasureError, match="run it again"):
            await erase_subject(
                database_url, SETTINGS, subject.request_id, "erase-db", progress=stop_inside
            )
    finally:
        server.start()
    conn = await connect(database_url)
    try:
        assert await certificates(conn) == []
        result = await erase_subject(conn, SETTINGS, subject.request_id, "erase-db")
        assert dict(result.counts) == EXPECTED
        await _assert_erased(conn, subject, "erase-db")
    finally:
        await conn.close()


async def test_runs_of_one_request_do_not_overlap(
    conn: asyncpg.Connection, database_url: str
) -> None:
    subject = await seed_subject(conn, SETTINGS, await cipher_for(conn, SETTINGS), "Only Once")
    await conn.execute(
        "SELECT pg_advisory_lock(hashtextextended($1, 0))",
        f"examstutor:erasure:{subject.request_id}",
    )
    other = await connect(database_url)
    try:
        with pytest.raises(ErasureError, match="another run"):
            await erase_subject(other, SETTINGS, subject.request_id, "x", lock_wait=0.2)
    finally:
        await other.close()

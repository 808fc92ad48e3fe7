"""A rotation run killed with SIGKILL at several points, or cut off by a database
restart, finishes on the next run: every row on the primary key, every ciphertext
decrypting to what was written, each row counted once, no row gained or lost."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from rotation_seed import SETTINGS_ENV, assert_all_decrypt, rotation_settings, seed_encrypted_tables

from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    RewrapProgress,
    create_data_key,
    retire_unused_keys,
    rewrap_fields,
    rows_off_primary,
)
from examstutor_platform.db import EmbeddedPostgres, connect

SETTINGS = rotation_settings()
ZERO = {t.name: 0 for t in ENCRYPTED_TABLES}
BATCH = 10
# A rotation in a child process; a short pause per batch stands for a big table,
# so that the test can kill it part-way at the points it chooses.
CHILD = """
import asyncio, json, sys, time
from examstutor_platform.crypto import rewrap_fields
from examstutor_platform.settings import Settings

def pause(progress):
    time.sleep(0.004)

asyncio.run(rewrap_fields(sys.argv[1], Settings.from_env(json.loads(sys.argv[2])),
                          run_id="rot-kill", batch_size=int(sys.argv[3]), progress=pause,
                          settle_seconds=0))
"""


async def _rows_done(conn: asyncpg.Connection, target: int) -> int:
    done: int = await conn.fetchval(
        "SELECT coalesce(sum(rows_done), 0) FROM rotation_checkpoints WHERE target_version = $1",
        target,
    )
    return done


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(120):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.005)


async def _run_and_kill(url: str, conn: asyncpg.Connection, target: int, at_rows: int) -> bool:
    """Start a rotation in a child; SIGKILL it once ``at_rows`` rows are durable.
    True if it was killed, False if it finished first."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        url,
        json.dumps(dict(SETTINGS_ENV)),
        str(BATCH),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )

    async def progressed_or_exited() -> bool:
        return child.returncode is not None or await _rows_done(conn, target) >= at_rows

    async def session_gone() -> bool:
        others: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return others == 0

    try:
        await _until(progressed_or_exited)
        if child.returncode is not None:
            assert child.stderr is not None
            assert child.returncode == 0, await child.stderr.read()
            return False
        child.send_signal(signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
        # its server session may still finish the statement in flight: wait until it is gone
        await _until(session_gone)
        return True
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


@pytest.mark.slow
async def test_kill_9_at_several_points_then_rerun(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        seeded = await seed_encrypted_tables(conn, SETTINGS, students=2000, questions=300)
        target = await create_data_key(conn, SETTINGS)
        off = await rows_off_primary(conn)
        total = sum(off.values())
        kills = 0
        # right after the first batch, twice in the middle of students, then in questions
        for at_rows in (1, 600, 1300, 2000):
            kills += await _run_and_kill(database_url, conn, target, at_rows)
            done = await _rows_done(conn, target)
            assert done >= min(at_rows, total)
            still_off = sum((await rows_off_primary(conn)).values())
            assert still_off == total - done  # durable progress is exactly the rows on the key
        assert kills >= 3

        before = await _rows_done(conn, target)
        result = await rewrap_fields(
            database_url, SETTINGS, run_id="rot-final", batch_size=BATCH, settle_seconds=0
        )
        assert result.finished
        assert result.rows_rewrapped == total - before
        assert await _rows_done(conn, target) == total  # each row counted once
        assert await rows_off_primary(conn) == ZERO
        await assert_all_decrypt(conn, SETTINGS, seeded, version=target)
        assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == [1]
        await assert_all_decrypt(conn, SETTINGS, seeded, version=target)
    finally:
        await conn.close()


@pytest.mark.slow
async def test_database_restart_mid_run_then_rerun(
    database_url: str, pg_server: EmbeddedPostgres | None
) -> None:
    if pg_server is None:
        pytest.skip("restarts only the embedded server")
    conn = await connect(database_url)
    try:
        seeded = await seed_encrypted_tables(conn, SETTINGS, students=600)
        target = await create_data_key(conn, SETTINGS)
        total = sum((await rows_off_primary(conn)).values())
    finally:
        await conn.close()

    reports: list[RewrapProgress] = []

    def stop_after_some(progress: RewrapProgress) -> None:
        reports.append(progress)
        if len(reports) == 12:
            pg_server.stop()  # fast shutdown: the run's connection is cut mid-rotation

    # what asyncpg raises depends on when each connection notices: all mean "connection lost"
    lost = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
    try:
        with pytest.raises(lost):
            await rewrap_fields(
                database_url,
                SETTINGS,
                run_id="rot-restart",
                batch_size=BATCH,
                progress=stop_after_some,
                settle_seconds=0,
            )
    finally:
        pg_server.start()
    assert len(reports) >= 12  # a batch written beside the 12th may have reported too

    conn = await connect(database_url)
    try:
        before = await _rows_done(conn, target)
        assert before >= reports[-1].rows_done
        assert sum((await rows_off_primary(conn)).values()) == total - before
    finally:
        await conn.close()
    result = await rewrap_fields(
        database_url, SETTINGS, run_id="rot-restart", batch_size=BATCH, settle_seconds=0
    )
    assert result.finished
    assert result.rows_rewrapped == total - before
    conn = await connect(database_url)
    try:
        assert await _rows_done(conn, target) == total
        assert await rows_off_primary(conn) == ZERO
        await assert_all_decrypt(conn, SETTINGS, seeded, version=target)
    finally:
        await conn.close()

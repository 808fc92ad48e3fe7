"""The group-commit audit writer against a real PostgreSQL.

Failures come from the real server: privileges revoked from the API role, the
writer's backend terminated mid-flush, a table lock that outlasts the flush
timeout. A lock held by another connection keeps a flush in flight so that
the queue can be observed deterministically.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from examstutor_platform.audit.events import COLUMNS, AuditEvent
from examstutor_platform.audit.writer import AuditWriter, encode_row
from examstutor_platform.db import connect, create_pool
from examstutor_platform.errors import AuditWriteError

APP_NAME = "audit-writer-test"
API_ROLE = "examstutor_api"


def event(request_id: str | None = None, **overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "actor_pseudonym": "psn:1f2e3d",
        "actor_role": "student",
        "action": "data.read",
        "resource": "students",
        "outcome": "success",
        "resource_id": "psn:1f2e3d",
        "ip_prefix": "102.89.0.0/16",
        "request_id": request_id or uuid.uuid4().hex,
        "details": {"route": "/v1/me", "fields": ["email", "full_name"]},
    }
    fields.update(overrides)
    return AuditEvent(**fields)


@asynccontextmanager
async def running_writer(
    database_url: str, *, role: str | None = None, **options: Any
) -> AsyncIterator[AuditWriter]:
    settings = {"application_name": APP_NAME}
    if role is not None:
        settings["role"] = role
    size = max(2, options.get("flushers", 2))
    pool = await create_pool(database_url, min_size=1, max_size=size, server_settings=settings)
    writer = AuditWriter(pool, **options)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.close()
        await pool.close()


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll until ``condition`` holds (a guard against hanging, not a timing claim)."""
    for _ in range(3000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def writer_blocked_on_lock(conn: asyncpg.Connection, flushes: int = 1) -> list[int]:
    """Wait until ``flushes`` of the writer's backends wait for a lock; return their pids."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database() AND wait_event_type = 'Lock'"
    )

    async def blocked() -> bool:
        return len(await conn.fetch(query, APP_NAME)) >= flushes

    await eventually(blocked, f"{flushes} of the writer's flushes wait for the table lock")
    return [row["pid"] for row in await conn.fetch(query, APP_NAME)]


@asynccontextmanager
async def audit_table_locked(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold an ACCESS EXCLUSIVE lock on audit_events until the block ends."""
    locker = await connect(database_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            yield locker
    finally:
        await locker.close()


async def stored_request_ids(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT request_id FROM audit_events ORDER BY seq")
    return [row["request_id"] for row in rows]


# -- storing ------------------------------------------------------------------


async def test_events_are_stored_once_with_database_seq_and_time(
    database_url: str, conn: asyncpg.Connection
) -> None:
    details = {"route": "/v1/me", "name": "Adéọlá", "nested": {"n": 1, "ok": True}, "x": None}
    sent = [event(f"req-{i}", details={**details, "i": i}) for i in range(50)]
    async with running_writer(database_url) as writer:
        for item in sent:
            await writer.write(item)
        assert writer.stats.events_written == 50

    rows = await conn.fetch("SELECT * FROM audit_events ORDER BY seq")
    assert [row["request_id"] for row in rows] == [f"req-{i}" for i in range(50)]
    seqs = [row["seq"] for row in rows]
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert all(row["occurred_at"] is not None for row in rows)
    first = rows[0]
    assert dict(first) | {"seq": 0, "occurred_at": None} == {
        "seq": 0,
        "occurred_at": None,
        **dict(zip(COLUMNS, sent[0].as_row(), strict=True)),
    }
    assert [row["details"]["i"] for row in rows] == list(range(50))


async def test_details_are_the_same_jsonb_the_pool_codec_writes(
    database_url: str, conn: asyncpg.Connection
) -> None:
    details = {"quote": 'say "hi"\n\ttab', "backslash_u": "\\u0000", "emoji": "📚", "n": 1.5}
    async with running_writer(database_url) as writer:
        await writer.write(event("via-writer", details=details))
    await conn.execute(
        f"INSERT INTO audit_events ({', '.join(COLUMNS)}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        *event("via-insert", details=details).as_row(),
    )
    texts = await conn.fetch("SELECT details::text AS t FROM audit_events ORDER BY seq")
    assert texts[0]["t"] == texts[1]["t"]
    assert await conn.fetchval("SELECT details FROM audit_events ORDER BY seq LIMIT 1") == details


@pytest.mark.parametrize("flushers", [1, 2])
async def test_many_concurrent_producers_all_resolve(
    database_url: str, conn: asyncpg.Connection, flushers: int
) -> None:
    async with running_writer(database_url, flushers=flushers) as writer:

        async def producer(n: int) -> None:
            for i in range(5):
                await writer.write(event(f"p{n}-{i}"))

        await asyncio.gather(*(producer(n) for n in range(200)))
        stats = writer.stats

    ids = await stored_request_ids(conn)
    assert sorted(ids) == sorted(f"p{n}-{i}" for n in range(200) for i in range(5))
    assert stats.events_written == 1000
    assert stats.flushes < stats.events_written  # group commit: batches, not one per event


async def test_a_streaming_copy_stops_at_max_batch_and_every_caller_is_told(
    database_url: str, conn: asyncpg.Connection
) -> None:
    """Callers of one COPY are told a slice at a time while the next COPY streams the
    events they write next; a COPY never grows past max_batch, and when it stops there
    the callers of the COPY before it are all told at once."""
    sizes: list[int] = []
    async with running_writer(
        database_url, flushers=1, max_batch=5, on_flush=lambda size, _s: sizes.append(size)
    ) as writer:

        async def producer(n: int) -> None:
            for i in range(4):
                await writer.write(event(f"s{n}-{i}"))

        await asyncio.gather(*(producer(n) for n in range(40)))
        assert writer.queue_depth == 0
        assert writer.in_flight == 0

    assert sorted(await stored_request_ids(conn)) == sorted(
        f"s{n}-{i}" for n in range(40) for i in range(4)
    )
    assert sum(sizes) == 160
    assert max(sizes) <= 5


async def test_an_open_copy_takes_events_that_arrive_within_linger(
    database_url: str, conn: asyncpg.Connection
) -> None:
    sizes: list[int] = []
    async with running_writer(
        database_url, flushers=1, linger=0.5, on_flush=lambda size, _s: sizes.append(size)
    ) as writer:
        writes = []
        for i in range(3):
            writes.append(asyncio.ensure_future(writer.write(event(f"l{i}"))))
            await asyncio.sleep(0.01)  # each arrives after the COPY opened
        await asyncio.gather(*writes)

    assert await stored_request_ids(conn) == ["l0", "l1", "l2"]
    assert sizes == [3]  # one COPY, streamed in three chunks


async def test_write_many_stores_all_in_one_flush(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url) as writer:
        await writer.write_many([event(f"m{i}") for i in range(30)])
        await writer.write_many([])
        assert writer.stats.flushes == 1
    assert await stored_request_ids(conn) == [f"m{i}" for i in range(30)]


async def test_api_role_writes_through_the_writer(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url, role=API_ROLE) as writer:
        async with writer._pool.acquire() as api_conn:
            assert await api_conn.fetchval("SELECT current_user") == API_ROLE
        await asyncio.gather(*(writer.write(event(f"api-{i}")) for i in range(20)))
    assert sorted(await stored_request_ids(conn)) == sorted(f"api-{i}" for i in range(20))


async def test_commits_are_durable_even_where_synchronous_commit_is_off(
    database_url: str,
) -> None:
    pool = await create_pool(
        database_url, min_size=1, max_size=1, server_settings={"synchronous_commit": "off"}
    )
    try:
        writer = AuditWriter(pool, flushers=1)
        await writer.start()
        await writer.write(event("durable"))
        held = writer._lanes[0].conn
        assert held is not None
        assert await held.fetchval("SHOW synchronous_commit") == "on"
        await writer.close()
        async with pool.acquire() as released:  # the pool's reset restores the setting
            assert await released.fetchval("SHOW synchronous_commit") == "off"
    finally:
        await pool.close()


# -- failing closed -----------------------------------------------------------


async def test_every_caller_of_a_failed_batch_fails_and_recovery_needs_no_restart(
    database_url: str, conn: asyncpg.Connection
) -> None:
    flushed: list[int] = []
    async with running_writer(
        database_url, role=API_ROLE, on_flush=lambda size, _seconds: flushed.append(size)
    ) as writer:
        await conn.execute(f"REVOKE INSERT ON audit_events FROM {API_ROLE}")
        results = await asyncio.gather(
            *(writer.write(event(f"denied-{i}")) for i in range(25)), return_exceptions=True
        )
        assert all(isinstance(result, AuditWriteError) for result in results)
        assert "permission denied" in str(results[0])
        assert writer.stats.events_failed == 25
        assert writer.stats.failed_flushes >= 1
        assert flushed == []

        await conn.execute(f"GRANT INSERT ({', '.join(COLUMNS)}) ON audit_events TO {API_ROLE}")
        await asyncio.gather(*(writer.write(event(f"ok-{i}")) for i in range(25)))
        assert writer.running

    assert sorted(await stored_request_ids(conn)) == sorted(f"ok-{i}" for i in range(25))
    assert sum(flushed) == 25


@pytest.mark.parametrize("flushers", [1, 2])
async def test_connection_lost_mid_flush_fails_that_batch_only(
    database_url: str, conn: asyncpg.Connection, flushers: int
) -> None:
    async with running_writer(database_url, flushers=flushers) as writer:
        async with audit_table_locked(database_url):
            first = [asyncio.ensure_future(writer.write(event(f"lost-{i}"))) for i in range(10)]
            pids = await writer_blocked_on_lock(conn, flushes=flushers)
            assert writer.in_flight == 10
            second = [asyncio.ensure_future(writer.write(event(f"next-{i}"))) for i in range(5)]
            await eventually(lambda: _true(writer.queue_depth == 5), "the next batch queues")
            for pid in pids:
                assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            results = await asyncio.gather(*first, return_exceptions=True)
            assert all(isinstance(result, AuditWriteError) for result in results)
        await asyncio.gather(*second)

    assert sorted(await stored_request_ids(conn)) == sorted(f"next-{i}" for i in range(5))


async def test_idle_connection_killed_between_flushes_is_replaced(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url) as writer:
        await writer.write(event("before"))
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", APP_NAME
        )
        for row in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])

        async def gone() -> bool:
            alive = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])",
                [row["pid"] for row in pids],
            )
            return bool(alive == 0)

        await eventually(gone, "the writer's backends exit")
        await writer.write(event("after"))
    assert await stored_request_ids(conn) == ["before", "after"]


async def test_a_hung_flush_times_out_and_fails_its_callers(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url, timeout=0.2) as writer:
        async with audit_table_locked(database_url):
            with pytest.raises(AuditWriteError, match="TimeoutError"):
                await writer.write(event("hung"))
        await writer.write(event("later"))
    assert await stored_request_ids(conn) == ["later"]


async def test_an_unstorable_event_fails_only_its_own_caller(
    database_url: str, conn: asyncpg.Connection
) -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    bad = [
        event("nan", details={"score": float("nan")}),
        event("nul-text", resource_id="psn:\x00"),
        event("nul-json", details={"s": "a\x00b"}),
        event("not-json", details={"when": object()}),
        event("circular", details=circular),
    ]
    async with running_writer(database_url) as writer:
        results = await asyncio.gather(
            writer.write(event("good-1")),
            *(writer.write(item) for item in bad),
            writer.write(event("good-2")),
            return_exceptions=True,
        )
    assert results[0] is None and results[-1] is None
    assert all(isinstance(result, AuditWriteError) for result in results[1:-1])
    assert await stored_request_ids(conn) == ["good-1", "good-2"]


async def test_a_pool_smaller_than_the_flushers_is_refused(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        writer = AuditWriter(pool, flushers=2)
        with pytest.raises(ValueError, match="flushers"):
            await writer.start()
    finally:
        await pool.close()


def test_encode_row_rejects_a_non_text_field() -> None:
    with pytest.raises(TypeError):
        encode_row(event(request_id=12345))  # type: ignore[arg-type]


# -- back-pressure and lifecycle ----------------------------------------------


async def test_a_cancelled_caller_does_not_disturb_its_batch(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url, flushers=1) as writer:
        async with audit_table_locked(database_url):
            calls = [asyncio.ensure_future(writer.write(event(f"k{i}"))) for i in range(3)]
            await writer_blocked_on_lock(conn)
            calls[1].cancel()
        await asyncio.gather(calls[0], calls[2])
        assert calls[1].cancelled()
        await writer.write(event("after"))
    # the cancelled caller's event was already in the flush: it is stored all the same
    assert await stored_request_ids(conn) == ["k0", "k1", "k2", "after"]


async def test_a_full_queue_rejects_at_once_and_later_writes_succeed(
    database_url: str, conn: asyncpg.Connection
) -> None:
    async with running_writer(database_url, max_batch=2, max_queue=5, flushers=1) as writer:
        async with audit_table_locked(database_url):
            in_flight = [asyncio.ensure_future(writer.write(event(f"f{i}"))) for i in range(2)]
            await writer_blocked_on_lock(conn)
            queued = [asyncio.ensure_future(writer.write(event(f"q{i}"))) for i in range(5)]
            await eventually(lambda: _true(writer.queue_depth == 5), "five events queue")
            with pytest.raises(AuditWriteError, match="queue full"):
                await writer.write(event("rejected"))
            with pytest.raises(AuditWriteError, match="queue full"):
                await writer.write_many([event("r1")])
            assert writer.stats.events_rejected == 2
        await asyncio.gather(*in_flight, *queued)
        await writer.write(event("after"))

    ids = await stored_request_ids(conn)
    assert sorted(ids) == sorted(["f0", "f1", "q0", "q1", "q2", "q3", "q4", "after"])


async def test_close_drains_the_queue_then_refuses_writes(
    database_url: str, conn: asyncpg.Connection
) -> None:
    pool = await create_pool(
        database_url, min_size=1, max_size=2, server_settings={"application_name": APP_NAME}
    )
    try:
        writer = AuditWriter(pool, max_batch=10)
        with pytest.raises(AuditWriteError, match="not running"):
            await writer.write(event("too-early"))
        await writer.start()
        async with audit_table_locked(database_url):
            pending = [asyncio.ensure_future(writer.write(event(f"d{i}"))) for i in range(40)]
            await writer_blocked_on_lock(conn)
            closing = asyncio.ensure_future(writer.close())
            await eventually(lambda: _true(writer._closing), "close begins")
            with pytest.raises(AuditWriteError, match="closed"):
                await writer.write(event("during-close"))
            assert not closing.done()
        await closing
        assert all(task.done() and task.exception() is None for task in pending)
        assert not writer.running
        with pytest.raises(AuditWriteError, match="closed"):
            await writer.write(event("after-close"))
        with pytest.raises(AuditWriteError, match="closed"):
            await writer.start()
    finally:
        await pool.close()

    assert sorted(await stored_request_ids(conn)) == sorted(f"d{i}" for i in range(40))


async def test_cancelling_close_fails_the_waiting_callers(
    database_url: str, conn: asyncpg.Connection
) -> None:
    pool = await create_pool(
        database_url, min_size=1, max_size=2, server_settings={"application_name": APP_NAME}
    )
    try:
        writer = AuditWriter(pool)
        await writer.start()
        async with audit_table_locked(database_url):
            pending = [asyncio.ensure_future(writer.write(event(f"c{i}"))) for i in range(3)]
            await writer_blocked_on_lock(conn)
            closing = asyncio.ensure_future(writer.close())
            await eventually(lambda: _true(writer._closing), "close begins")
            closing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await closing
            results = await asyncio.gather(*pending, return_exceptions=True)
            assert all(isinstance(result, AuditWriteError) for result in results)
            assert not writer.running
    finally:
        await pool.close()
    assert await stored_request_ids(conn) == []


async def _true(value: bool) -> bool:
    return value

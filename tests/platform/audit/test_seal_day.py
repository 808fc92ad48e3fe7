"""Sealing a business day: the chain, its order, idempotence, late commits and races."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from examstutor_audit_days import (
    audit_settings,
    ensure_partitions,
    insert_events,
    lagos,
    reference_head,
    spread,
    triggers_disabled,
)

from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.seal import SealError, load_seal, seal_day, seal_through
from examstutor_platform.audit.signing import Signer
from examstutor_platform.audit.stream import DayChain, copy_unescape, day_bounds, stream_day
from examstutor_platform.db import connect
from examstutor_platform.errors import ChainBrokenError, SignatureError
from examstutor_platform.retention import load_policy
from examstutor_platform.secrets import Secret

DAY = date(2025, 3, 10)
NEXT = DAY + timedelta(days=1)


async def test_day_bounds_are_lagos_midnights_in_utc() -> None:
    start, end = day_bounds(DAY, audit_settings(Path("/nonexistent")).tz)
    assert start == datetime(2025, 3, 9, 23, 0, tzinfo=UTC)
    assert end == datetime(2025, 3, 10, 23, 0, tzinfo=UTC)


async def test_seal_chains_the_lagos_day_like_the_reference(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT + timedelta(days=1))
    await insert_events(conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 3000), hostile=True)
    await insert_events(conn, [lagos(DAY, 23, 59, 59, 999_999), lagos(NEXT, 0, 0, 0, 0)])

    first = await seal_day(conn, settings, DAY, "run-1")
    head, rows = await reference_head(conn, DAY, GENESIS)
    assert first.created and first.rows == rows == 1501
    assert first.head == head and first.prev_head == GENESIS

    second = await seal_day(conn, settings, NEXT, "run-2")
    head, rows = await reference_head(conn, NEXT, first.head)
    assert second.prev_head == first.head
    assert (second.head, second.rows) == (head, rows)
    assert second.first_seq is not None and first.last_seq is not None
    assert second.first_seq > first.first_seq  # type: ignore[operator]

    stored = await load_seal(conn, DAY)
    assert stored is not None
    assert stored.timezone == "Africa/Lagos"
    assert stored.policy_version == load_policy().version
    assert stored.run_id == "run-1"
    stored.check_signature(Signer(settings.signing_key).public_key)
    other = Signer(Secret(bytes(32)))
    with pytest.raises(SignatureError):
        stored.check_signature(other.public_key)


async def test_small_chunks_give_the_same_chain(conn: asyncpg.Connection) -> None:
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(
        conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 1200), hostile=True, seed=11
    )
    start, end = day_bounds(DAY, audit_settings(Path("/x")).tz)
    async with conn.transaction():
        whole = await stream_day(conn, start, end, DayChain())
        pieces = await stream_day(conn, start, end, DayChain(), chunk_bytes=2000)
    assert (pieces.head, pieces.rows, pieces.first_seq, pieces.last_seq) == (
        whole.head,
        whole.rows,
        whole.first_seq,
        whole.last_seq,
    )
    assert whole.head == (await reference_head(conn, DAY, GENESIS))[0]


def test_copy_unescape_undoes_copy_text_escapes() -> None:
    assert copy_unescape(r"a\\b\tc\nd\re\bf\fg\vh") == "a\\b\tc\nd\re\bf\fg\vh"
    assert copy_unescape(r"\\N") == "\\N"


async def test_resealing_is_idempotent(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 200))
    first = await seal_day(conn, settings, DAY, "run-1")
    again = await seal_day(conn, settings, DAY, "run-2")
    assert not again.created
    assert (again.head, again.rows, again.run_id) == (first.head, first.rows, "run-1")
    assert await conn.fetchval("SELECT count(*) FROM audit_seals") == 1


async def test_resealing_a_changed_day_fails_loudly(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 200))
    sealed = await seal_day(conn, settings, DAY, "run-1")
    # a back-dated insert by a superuser: a new seq inside the sealed day
    await insert_events(conn, [lagos(DAY, 12)])
    with pytest.raises(ChainBrokenError) as caught:
        await seal_day(conn, settings, DAY, "run-2")
    assert caught.value.seq is not None and caught.value.seq > sealed.last_seq  # type: ignore[operator]
    assert str(DAY) in str(caught.value)

    target = sealed.first_seq
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute("DELETE FROM audit_events WHERE seq > $1", sealed.last_seq)
        await conn.execute("UPDATE audit_events SET outcome = 'failure' WHERE seq = $1", target)
    with pytest.raises(ChainBrokenError, match="changed after sealing"):
        await seal_day(conn, settings, DAY, "run-3")


async def test_a_day_is_sealed_only_once_it_is_over(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    _, end = day_bounds(DAY, settings.tz)
    with pytest.raises(SealError, match="not over yet"):
        await seal_day(conn, settings, DAY, "r", now=end + timedelta(minutes=4))
    today = datetime.now(settings.tz).date()
    with pytest.raises(SealError, match="not over yet"):
        await seal_day(conn, settings, today, "r")
    result = await seal_day(conn, settings, DAY, "r", now=end + timedelta(minutes=5))
    assert result.created and result.rows == 0


async def test_days_are_sealed_in_order(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT + timedelta(days=2))
    await insert_events(conn, [lagos(DAY, 9), lagos(NEXT, 9)])
    with pytest.raises(SealError, match=f"events go back to {DAY}"):
        await seal_day(conn, settings, NEXT, "r")
    await seal_day(conn, settings, DAY, "r")
    with pytest.raises(SealError, match=f"{NEXT} is not sealed yet"):
        await seal_day(conn, settings, NEXT + timedelta(days=1), "r")
    await seal_day(conn, settings, NEXT, "r")
    with pytest.raises(SealError, match="would fork the chain"):
        await seal_day(conn, settings, DAY - timedelta(days=1), "r")


async def test_an_empty_day_keeps_the_previous_head(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    empty_first = await seal_day(conn, settings, DAY - timedelta(days=1), "r")
    assert (empty_first.rows, empty_first.head, empty_first.first_seq) == (0, GENESIS, None)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, [lagos(DAY, 9)])
    busy = await seal_day(conn, settings, DAY, "r")
    quiet = await seal_day(conn, settings, NEXT, "r")
    assert busy.rows == 1 and busy.head != GENESIS
    assert (quiet.rows, quiet.prev_head, quiet.head, quiet.last_seq) == (
        0,
        busy.head,
        busy.head,
        None,
    )


async def test_two_sealers_race_and_one_seal_results(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 2000))
    other = await connect(database_url)
    try:
        results = await asyncio.gather(
            seal_day(conn, settings, DAY, "a"), seal_day(other, settings, DAY, "b")
        )
    finally:
        await other.close()
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].head == results[1].head
    assert await conn.fetchval("SELECT count(*) FROM audit_seals") == 1


async def test_the_pipelines_role_can_seal(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, spread(lagos(DAY, 22, 30), timedelta(hours=3), 50))
    await conn.execute("SET ROLE examstutor_pipelines")
    result = await seal_day(conn, settings, DAY, "r")
    assert result.created and result.rows == 25


async def test_seal_through_catches_up_in_order(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT + timedelta(days=1))
    await insert_events(conn, [lagos(DAY, 9), lagos(NEXT, 9)])
    results = await seal_through(conn, settings, NEXT + timedelta(days=1), "catch-up")
    assert [(r.day, r.rows, r.created) for r in results] == [
        (DAY, 1, True),
        (NEXT, 1, True),
        (NEXT + timedelta(days=1), 0, True),
    ]
    assert results[1].prev_head == results[0].head
    again = await seal_through(conn, settings, NEXT + timedelta(days=1), "again")
    assert [(r.day, r.created) for r in again] == [(NEXT + timedelta(days=1), False)]

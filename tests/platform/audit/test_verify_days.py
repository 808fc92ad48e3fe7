"""``verify_days``: tampering with sealed days is found and the first bad seq is named."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from examstutor_audit_days import (
    audit_settings,
    ensure_partitions,
    insert_events,
    lagos,
    triggers_disabled,
)

from examstutor_platform.audit.export import export_day
from examstutor_platform.audit.seal import SealRecord, load_seal, seal_day
from examstutor_platform.audit.verify import verify_days
from examstutor_platform.settings import Settings

DAY = date(2025, 3, 10)
NEXT = DAY + timedelta(days=1)
LAST = DAY + timedelta(days=2)


async def _sealed(
    conn: asyncpg.Connection, home: Path, *, export: bool = True
) -> tuple[Settings, dict[date, SealRecord]]:
    """Three sealed days (1000, 1000 and 0 events), exported unless told otherwise."""
    settings = audit_settings(home)
    await ensure_partitions(conn, DAY, LAST)
    start = lagos(DAY)
    await insert_events(conn, [start + timedelta(seconds=86.4 * i) for i in range(2000)])
    seals = {}
    for day in (DAY, NEXT, LAST):
        await seal_day(conn, settings, day, "seal")
        if export:
            await export_day(conn, settings, day, rows_per_file=400)
        seal = await load_seal(conn, day)
        assert seal is not None
        seals[day] = seal
    return settings, seals


def _seq(seal: SealRecord, offset: int) -> int:
    assert seal.first_seq is not None
    return seal.first_seq + offset


async def test_intact_days_verify(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings, _ = await _sealed(conn, tmp_path)
    calls: list[tuple[int, int, int]] = []
    result = await verify_days(conn, settings, progress=lambda *a: calls.append(a))
    assert result.intact
    assert (result.days, result.events, result.first_day, result.last_day) == (3, 2000, DAY, LAST)
    assert calls[-1] == (3, 3, 2000)
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)
    part = await verify_days(conn, settings, NEXT, NEXT)
    assert (part.intact, part.days, part.events) == (True, 1, 1000)


async def test_nothing_sealed_is_intact(conn: asyncpg.Connection, tmp_path: Path) -> None:
    result = await verify_days(conn, audit_settings(tmp_path))
    assert (result.intact, result.days, result.events) == (True, 0, 0)


async def test_an_altered_row_is_named(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings, seals = await _sealed(conn, tmp_path)
    target = _seq(seals[NEXT], 417)
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute("UPDATE audit_events SET outcome = 'failure' WHERE seq = $1", target)
    result = await verify_days(conn, settings)
    assert not result.intact
    assert (result.bad_day, result.first_bad_seq, result.days) == (NEXT, target, 1)
    assert result.problem is not None and "altered" in result.problem
    assert (await verify_days(conn, settings, DAY, DAY)).intact


async def test_a_deleted_row_is_named(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings, seals = await _sealed(conn, tmp_path)
    target = _seq(seals[DAY], 999)  # the day's last row
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute("DELETE FROM audit_events WHERE seq = $1", target)
    result = await verify_days(conn, settings)
    assert (result.intact, result.bad_day, result.first_bad_seq) == (False, DAY, target)
    assert result.problem is not None and "deleted" in result.problem

    middle = _seq(seals[NEXT], 3)
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute("DELETE FROM audit_events WHERE seq = $1", middle)
    result = await verify_days(conn, settings, NEXT)
    assert (result.bad_day, result.first_bad_seq) == (NEXT, middle)


@pytest.mark.parametrize("export", [True, False])
async def test_a_backdated_row_is_named(
    conn: asyncpg.Connection, tmp_path: Path, export: bool
) -> None:
    settings, _ = await _sealed(conn, tmp_path, export=export)
    await insert_events(conn, [lagos(DAY, 18, 30)])  # superuser: occurred_at given
    added = await conn.fetchval("SELECT max(seq) FROM audit_events")
    result = await verify_days(conn, settings)
    assert (result.intact, result.bad_day, result.first_bad_seq) == (False, DAY, added)


async def test_a_backdated_row_reusing_a_seq_is_named(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings, seals = await _sealed(conn, tmp_path)
    reused = _seq(seals[DAY], 5)
    await conn.execute(
        "INSERT INTO audit_events (seq, occurred_at, actor_pseudonym, actor_role, action, "
        "resource, outcome) OVERRIDING SYSTEM VALUE "
        "VALUES ($1, $2, 'psn:forged', 'admin', 'data.delete', 'students', 'success')",
        reused,
        lagos(DAY, 23),
    )
    result = await verify_days(conn, settings)
    assert (result.intact, result.bad_day, result.first_bad_seq) == (False, DAY, reused)


async def test_without_an_export_an_altered_row_is_placed_in_its_day(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings, seals = await _sealed(conn, tmp_path, export=False)
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute(
            "UPDATE audit_events SET details = '{\"x\": 1}' WHERE seq = $1", _seq(seals[NEXT], 9)
        )
    result = await verify_days(conn, settings)
    assert (result.bad_day, result.first_bad_seq) == (NEXT, seals[NEXT].first_seq)
    assert result.problem is not None and "no export" in result.problem


async def test_tampered_seals_are_found(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings, seals = await _sealed(conn, tmp_path)
    async with triggers_disabled(conn, "audit_seals"):
        await conn.execute("UPDATE audit_seals SET policy_version = 'x' WHERE day = $1", NEXT)
    result = await verify_days(conn, settings)
    assert (result.bad_day, result.first_bad_seq) == (NEXT, seals[NEXT].first_seq)
    assert result.problem is not None and "does not verify" in result.problem
    async with triggers_disabled(conn, "audit_seals"):
        await conn.execute("UPDATE audit_seals SET rows = rows + 1 WHERE day = $1", NEXT)
    result = await verify_days(conn, settings)
    assert result.problem is not None and "malformed" in result.problem
    async with triggers_disabled(conn, "audit_seals"):
        await conn.execute("DELETE FROM audit_seals WHERE day = $1", NEXT)
    result = await verify_days(conn, settings)
    assert result.bad_day == LAST
    assert result.problem is not None and "seal is missing" in result.problem


async def test_an_event_before_the_first_sealed_day_is_found(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings, _ = await _sealed(conn, tmp_path)
    await insert_events(conn, [lagos(DAY - timedelta(days=1), 10)])
    added = await conn.fetchval("SELECT max(seq) FROM audit_events")
    result = await verify_days(conn, settings)
    assert (result.intact, result.first_bad_seq, result.bad_day) == (False, added, DAY)
    assert (await verify_days(conn, settings, NEXT)).intact

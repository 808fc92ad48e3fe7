"""Data-key rotation against a real PostgreSQL: create, rewrap every encrypted table,
resume from checkpoints, retire; refusals; KEK rotation."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from rotation_seed import (
    NEW_KEK,
    SETTINGS_ENV,
    Seeded,
    assert_all_decrypt,
    rotation_settings,
    seed_encrypted_tables,
)

from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    DataKeyStore,
    FieldCipher,
    KeyRing,
    RewrapProgress,
    RotationInProgressError,
    create_data_key,
    key_versions_in_use,
    retire_unused_keys,
    rewrap_fields,
    rewrap_keks,
    rows_off_primary,
)
from examstutor_platform.crypto.rewrap import rotation_lock
from examstutor_platform.db import connect, create_pool
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.errors import DecryptionError, KeyUnavailableError
from examstutor_platform.settings import b64url_encode

SETTINGS = rotation_settings()
ZERO = {t.name: 0 for t in ENCRYPTED_TABLES}


async def _statuses(conn: asyncpg.Connection) -> dict[int, str]:
    rows = await conn.fetch("SELECT version, status FROM data_keys ORDER BY version")
    return {r["version"]: r["status"] for r in rows}


async def _checkpoints(conn: DbConnection, target: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT table_name, rows_done FROM rotation_checkpoints WHERE target_version = $1",
        target,
    )
    return {r["table_name"]: r["rows_done"] for r in rows}


async def test_full_rotation_of_every_encrypted_table(conn: asyncpg.Connection) -> None:
    seeded = await seed_encrypted_tables(conn, SETTINGS)
    before = await rows_off_primary(conn)
    assert before == ZERO

    assert await create_data_key(conn, SETTINGS) == 2
    off = await rows_off_primary(conn)
    assert all(off[t.name] > 0 for t in ENCRYPTED_TABLES), off
    assert await key_versions_in_use(conn) == {1}

    reports: list[RewrapProgress] = []
    result = await rewrap_fields(
        conn, SETTINGS, run_id="run-1", batch_size=25, progress=reports.append, settle_seconds=0
    )
    assert result.finished and result.target_version == 2 and result.run_id == "run-1"
    assert result.rows_rewrapped == sum(off.values()) and result.remaining == 0
    assert {t.table: t.rows_rewrapped for t in result.tables} == off
    assert sum(r.batch_rows for r in reports) == result.rows_rewrapped
    assert "rewrap onto data key 2" in str(reports[-1])
    assert await rows_off_primary(conn) == ZERO
    assert await _checkpoints(conn, 2) == off
    finished = await conn.fetchval(
        "SELECT bool_and(finished_at IS NOT NULL AND last_id IS NULL) FROM rotation_checkpoints"
    )
    assert finished
    await assert_all_decrypt(conn, SETTINGS, seeded, version=2)
    assert await key_versions_in_use(conn) == {2}

    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == [1]
    assert await _statuses(conn) == {1: "retired", 2: "primary"}
    ring = await DataKeyStore().load(conn, SETTINGS.keks)
    assert ring.versions == (2,)
    await assert_all_decrypt(conn, SETTINGS, seeded, version=2)

    again = await rewrap_fields(conn, SETTINGS, run_id="run-2", settle_seconds=0)
    assert again.finished and again.rows_rewrapped == 0
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == []


async def test_resume_from_checkpoints_rewraps_each_row_once(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        seeded = await seed_encrypted_tables(conn, SETTINGS, students=60, questions=20)
        await create_data_key(conn, SETTINGS)
        off = await rows_off_primary(conn)
    finally:
        await conn.close()

    first = await rewrap_fields(
        database_url, SETTINGS, run_id="r", batch_size=7, max_batches=3, settle_seconds=0
    )
    assert not first.finished and first.batches == 3
    assert first.rows_rewrapped == 21 and first.tables[0].table == "students"
    assert first.remaining == sum(off.values()) - 21
    metadata = first.metadata()
    assert metadata["rows_rewrapped"] == 21 and metadata["finished"] is False
    assert metadata["students.rows_on_key"] == 21 and metadata["target_version"] == 2
    conn = await connect(database_url)
    try:
        assert await _checkpoints(conn, 2) == {"students": 21}
        last_id = await conn.fetchval("SELECT last_id FROM rotation_checkpoints")
        below = await conn.fetchval(
            "SELECT count(*) FROM students WHERE id <= $1::uuid AND key_version = 2", last_id
        )
        assert below == 21
    finally:
        await conn.close()

    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        total = first.rows_rewrapped
        while True:
            step = await rewrap_fields(
                pool, SETTINGS, run_id="r", batch_size=7, max_batches=4, settle_seconds=0
            )
            total += step.rows_rewrapped
            if step.finished:
                break
        async with pool.acquire() as pooled:
            assert await _checkpoints(pooled, 2) == off
            assert await rows_off_primary(pooled) == ZERO
            await assert_all_decrypt(pooled, SETTINGS, seeded, version=2)
    finally:
        await pool.close()
    assert total == sum(off.values())


async def test_a_new_primary_during_a_run_becomes_the_target(conn: asyncpg.Connection) -> None:
    seeded = await seed_encrypted_tables(conn, SETTINGS, students=40)
    await create_data_key(conn, SETTINGS)
    partial = await rewrap_fields(
        conn, SETTINGS, run_id="r", batch_size=5, max_batches=2, settle_seconds=0
    )
    assert partial.target_version == 2 and not partial.finished
    assert await create_data_key(conn, SETTINGS) == 3
    result = await rewrap_fields(conn, SETTINGS, run_id="r", batch_size=5, settle_seconds=0)
    assert result.finished and result.target_version == 3
    await assert_all_decrypt(conn, SETTINGS, seeded, version=3)
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == [1, 2]


async def test_retire_refuses_keys_still_in_use(conn: asyncpg.Connection) -> None:
    seeded = await seed_encrypted_tables(conn, SETTINGS, students=10)
    await create_data_key(conn, SETTINGS)
    # nothing rewrapped yet: key 1 is in use everywhere
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == []
    assert await _statuses(conn) == {1: "active", 2: "primary"}

    await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)
    ring = await DataKeyStore().load(conn, SETTINGS.keks)
    old = FieldCipher(KeyRing({1: ring.key(1)}, primary=1))
    # an outbox row labelled with the new key whose embedded token is still under key 1
    row = await conn.fetchrow("SELECT id, payload FROM outbox WHERE payload ? 'token_enc' LIMIT 1")
    assert row is not None
    rid = str(row["id"])
    stale = old.encrypt("tok-stale", table="outbox", column="payload_token", row_id=rid)
    await conn.execute(
        "UPDATE outbox SET payload = jsonb_set(payload, '{token_enc}', to_jsonb($2::text)) "
        "WHERE id = $1",
        row["id"],
        b64url_encode(stale),
    )
    assert await key_versions_in_use(conn) == {1, 2}
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == []
    assert (await rows_off_primary(conn))["outbox"] == 1
    # a student row labelled 2 with one column still under key 1
    sid = await conn.fetchval("SELECT id FROM students WHERE key_version = 2 LIMIT 1")
    phone = old.encrypt("+2348000000000", table="students", column="phone_enc", row_id=str(sid))
    await conn.execute("UPDATE students SET phone_enc = $2 WHERE id = $1", sid, phone)
    assert (await rows_off_primary(conn))["students"] == 1
    seeded.plaintexts[("students", "phone_enc", str(sid))] = "+2348000000000"
    seeded.plaintexts[("outbox", "payload_token", rid)] = "tok-stale"

    result = await rewrap_fields(conn, SETTINGS, run_id="r2", settle_seconds=0)
    assert result.finished and result.rows_rewrapped == 2
    assert await key_versions_in_use(conn) == {2}
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == [1]
    await assert_all_decrypt(conn, SETTINGS, seeded, version=2)


async def test_retire_waits_for_the_settle_time(conn: asyncpg.Connection) -> None:
    await seed_encrypted_tables(conn, SETTINGS, students=5, questions=0, outbox=0, staff=0)
    await create_data_key(conn, SETTINGS)
    await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)
    age = await conn.fetchval(
        "SELECT extract(epoch FROM now() - created_at)::float8 FROM data_keys WHERE version = 2"
    )
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=age + 0.3) == [1]
    later = await conn.fetchval(
        "SELECT extract(epoch FROM now() - created_at)::float8 FROM data_keys WHERE version = 2"
    )
    assert later >= age + 0.3


async def test_errors_name_what_is_wrong(conn: asyncpg.Connection) -> None:
    with pytest.raises(KeyUnavailableError, match="no primary data key"):
        await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)
    assert await retire_unused_keys(conn, SETTINGS, settle_seconds=0) == []
    with pytest.raises(ValueError, match="batch_size"):
        await rewrap_fields(conn, SETTINGS, run_id="r", batch_size=0)

    await seed_encrypted_tables(conn, SETTINGS, students=6, questions=0, outbox=0, staff=0)
    await create_data_key(conn, SETTINGS)
    async with conn.transaction():
        with pytest.raises(ValueError, match="outside a transaction"):
            await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)

    sid = await conn.fetchval("SELECT id FROM students WHERE key_version = 1 LIMIT 1")
    await conn.execute(
        "UPDATE students SET full_name_enc = overlay(full_name_enc PLACING '\\xff' FROM 30) "
        "WHERE id = $1",
        sid,
    )
    with pytest.raises(DecryptionError, match=f"students.full_name_enc of row {sid}"):
        await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)

    await conn.execute("DELETE FROM students WHERE id = $1", sid)
    await conn.execute("UPDATE data_keys SET status = 'retired' WHERE version = 1")
    with pytest.raises(KeyUnavailableError, match="data key 1"):
        await rewrap_fields(conn, SETTINGS, run_id="r", settle_seconds=0)


async def test_one_rotation_at_a_time(database_url: str) -> None:
    holder = await connect(database_url)
    other = await connect(database_url)
    try:
        await seed_encrypted_tables(holder, SETTINGS, students=8, questions=0)
        await create_data_key(holder, SETTINGS)
        async with rotation_lock(holder):
            with pytest.raises(RotationInProgressError):
                async with rotation_lock(other, wait_seconds=0):
                    pass
            # a rotation started now waits for the lock, then runs
            waiting = asyncio.create_task(
                rewrap_fields(other, SETTINGS, run_id="w", settle_seconds=0)
            )
            await asyncio.sleep(0.3)
            assert not waiting.done()
        result = await waiting
        assert result.finished
    finally:
        await holder.close()
        await other.close()


async def test_kek_rotation_rewraps_data_keys_only(conn: asyncpg.Connection) -> None:
    seeded = await seed_encrypted_tables(conn, SETTINGS, students=20)
    await create_data_key(conn, SETTINGS)
    await rewrap_fields(conn, SETTINGS, run_id="r", batch_size=9, settle_seconds=0)
    snapshot = {
        t.name: await conn.fetch(f"SELECT * FROM {t.name} ORDER BY {t.id_column}")
        for t in ENCRYPTED_TABLES
    }

    both = rotation_settings(f"{NEW_KEK},{SETTINGS_ENV['EXAMSTUTOR_KEKS']}")
    assert await rewrap_keks(conn, both) == 2
    assert await rewrap_keks(conn, both) == 0
    kek_ids = await conn.fetch("SELECT DISTINCT kek_id FROM data_keys")
    assert [r["kek_id"] for r in kek_ids] == ["rot-kek-2"]
    for t in ENCRYPTED_TABLES:
        rows = await conn.fetch(f"SELECT * FROM {t.name} ORDER BY {t.id_column}")
        assert rows == snapshot[t.name], t.name

    only_new = rotation_settings(NEW_KEK)
    await assert_all_decrypt(conn, only_new, seeded, version=2)
    with pytest.raises(KeyUnavailableError, match="rot-kek-2"):
        await DataKeyStore().load(conn, SETTINGS.keks)

    # rotation keeps working under the new KEK alone
    assert await create_data_key(conn, only_new) == 3
    result = await rewrap_fields(conn, only_new, run_id="r3", settle_seconds=0)
    assert result.finished
    await assert_all_decrypt(conn, only_new, seeded, version=3)


def test_seeded_defaults_cover_every_table() -> None:
    assert {t.name for t in ENCRYPTED_TABLES} == {"students", "staff", "questions", "outbox"}
    assert isinstance(Seeded().plaintexts, dict)

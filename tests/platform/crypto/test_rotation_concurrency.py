"""Rewrapping while the API keeps writing: profiles rewritten and students registered
through the API's own code under the new key, and for a moment by an API whose key
ring still has the old primary. No write is lost and every row ends on the new key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from rotation_seed import Seeded, assert_all_decrypt, rotation_settings, seed_encrypted_tables

from examstutor_api.students import insert_student, load_profile, rewrite_profile
from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    BlindIndex,
    DataKeyStore,
    FieldCipher,
    create_data_key,
    encrypted_table,
    rewrap_fields,
    rows_off_primary,
)
from examstutor_platform.crypto.reencrypt import BatchReencryptor, ciphertext_header, rewrap_rows
from examstutor_platform.crypto.rotation_queries import TABLE_QUERIES
from examstutor_platform.db import connect

SETTINGS = rotation_settings()
INDEX = BlindIndex(SETTINGS.index_key)


async def _rewrite_slice(
    url: str,
    cipher: FieldCipher,
    ids: list[uuid.UUID],
    seeded: Seeded,
    tag: str,
    *,
    stop: asyncio.Event | None = None,
    rounds: int | None = None,
) -> int:
    """Rename the students of ``ids`` over and over, as the API's PATCH /v1/me does."""
    conn = await connect(url)
    writes = 0
    try:
        while (stop is None or not stop.is_set()) and (rounds is None or writes < rounds):
            sid = ids[writes % len(ids)]
            name = f"Chidi {tag} {writes}"
            async with conn.transaction():
                profile = await load_profile(conn, cipher, sid, for_update=True)
                assert profile is not None
                await rewrite_profile(conn, cipher, INDEX, profile, full_name=name)
            seeded.plaintexts[("students", "full_name_enc", str(sid))] = name
            writes += 1
            await asyncio.sleep(0)
    finally:
        await conn.close()
    return writes


async def _register(url: str, cipher: FieldCipher, seeded: Seeded, stop: asyncio.Event) -> int:
    """Register new students, as the API's POST /v1/auth/register does."""
    conn = await connect(url)
    count = 0
    try:
        while not stop.is_set():
            sid = uuid.uuid4()
            email = f"new{count}-{sid.hex[:6]}@example.ng"
            await insert_student(
                conn,
                cipher,
                INDEX,
                student_id=sid,
                email=email,
                full_name=f"Ngozi {count}",
                date_of_birth=date(2007, 3, 4),
                phone=None,
                guardian_email="mum@example.ng",
                status="active",
            )
            rid = str(sid)
            seeded.plaintexts[("students", "email_enc", rid)] = email
            seeded.plaintexts[("students", "full_name_enc", rid)] = f"Ngozi {count}"
            seeded.plaintexts[("students", "date_of_birth_enc", rid)] = "2007-03-04"
            seeded.plaintexts[("students", "guardian_email_enc", rid)] = "mum@example.ng"
            seeded.counts["students"] += 1
            count += 1
            await asyncio.sleep(0.002)
    finally:
        await conn.close()
    return count


async def test_rewrap_while_the_api_keeps_writing(database_url: str) -> None:
    conn = await connect(database_url)
    try:
        seeded = await seed_encrypted_tables(conn, SETTINGS, students=600)
        old_cipher = FieldCipher(await DataKeyStore().load(conn, SETTINGS.keks))
        target = await create_data_key(conn, SETTINGS)
        new_cipher = FieldCipher(await DataKeyStore().load(conn, SETTINGS.keks))
        ids: list[uuid.UUID] = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM students WHERE key_version IS NOT NULL ORDER BY random()"
            )
        ]
    finally:
        await conn.close()

    stop = asyncio.Event()
    writers = [
        asyncio.create_task(
            _rewrite_slice(database_url, new_cipher, ids[0::4], seeded, "a", stop=stop)
        ),
        asyncio.create_task(
            _rewrite_slice(database_url, new_cipher, ids[1::4], seeded, "b", stop=stop)
        ),
        asyncio.create_task(_register(database_url, new_cipher, seeded, stop)),
    ]
    # an API that has not reloaded its ring yet: still encrypting under key 1, briefly
    stale = asyncio.create_task(
        _rewrite_slice(database_url, old_cipher, ids[2::4], seeded, "stale", rounds=25)
    )
    try:
        result = await rewrap_fields(
            database_url, SETTINGS, run_id="live", batch_size=25, settle_seconds=3.0
        )
    finally:
        stop.set()
        counts = await asyncio.gather(*writers, stale)
    assert all(counts), counts
    assert result.finished and result.target_version == target

    conn = await connect(database_url)
    try:
        assert await rows_off_primary(conn) == {t.name: 0 for t in ENCRYPTED_TABLES}
        await assert_all_decrypt(conn, SETTINGS, seeded, version=target)
    finally:
        await conn.close()


async def test_a_row_changed_after_it_was_read_is_left_for_the_next_pass(
    database_url: str,
) -> None:
    conn = await connect(database_url)
    try:
        seeded = await seed_encrypted_tables(
            conn, SETTINGS, students=12, staff=0, questions=0, outbox=0
        )
        await create_data_key(conn, SETTINGS)
        cipher = FieldCipher(await DataKeyStore().load(conn, SETTINGS.keks))
        target = cipher.primary_version
        queries = TABLE_QUERIES["students"]
        rows = await conn.fetch(queries.first_batch, target, ciphertext_header(target), 100)
        reencryptor = BatchReencryptor(cipher.keyring)
        arrays = rewrap_rows(reencryptor, encrypted_table("students"), rows)
        # between the read and the write: the API renames one student (under the new
        # key) and a login touches another (no encrypted column changes)
        renamed, touched = rows[0]["id"], rows[1]["id"]
        async with conn.transaction():
            profile = await load_profile(conn, cipher, renamed, for_update=True)
            assert profile is not None
            await rewrite_profile(conn, cipher, INDEX, profile, full_name="Renamed Meanwhile")
        await conn.execute("UPDATE students SET last_active_at = now() WHERE id = $1", touched)
        seeded.plaintexts[("students", "full_name_enc", str(renamed))] = "Renamed Meanwhile"

        result = await conn.fetchrow(
            queries.rewrap_batch, target, "students", str(rows[-1]["id"]), *arrays
        )
        assert result is not None
        assert result["still_primary"] and result["rewrapped"] == len(rows) - 2
        assert await conn.fetchval("SELECT key_version FROM students WHERE id = $1", touched) == 1
        # the renamed row kept the API's write; the touched one waits for the next pass
        # (the checkpoint says the batch is done: a second pass from the start finds it)
        final = await rewrap_fields(conn, SETTINGS, run_id="next", settle_seconds=0)
        assert final.finished and final.passes == 2
        assert final.rows_rewrapped == final.tables[0].rows_rewrapped == 1
        await assert_all_decrypt(conn, SETTINGS, seeded, version=target)
    finally:
        await conn.close()

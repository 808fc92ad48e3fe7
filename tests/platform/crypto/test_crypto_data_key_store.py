"""DataKeyStore against a real PostgreSQL: create, ensure, rotate DEKs and KEKs, retire, race."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from examstutor_platform.crypto import DataKeyStore, FieldCipher
from examstutor_platform.db import connect
from examstutor_platform.errors import ConfigurationError, CryptoError, KeyUnavailableError
from examstutor_platform.secrets import Secret
from examstutor_platform.settings import Kek

OLD = Kek("kek-2025", Secret(b"\x11" * 32))
NEW = Kek("kek-2026", Secret(b"\x22" * 32))
FIELD = {"table": "students", "column": "email_enc", "row_id": "row-1"}
STORE = DataKeyStore()


async def _rows(conn: asyncpg.Connection) -> list[tuple[int, str, str]]:
    rows = await conn.fetch("SELECT version, kek_id, status FROM data_keys ORDER BY version")
    return [(r["version"], r["kek_id"], r["status"]) for r in rows]


async def test_ensure_primary_creates_once(conn: asyncpg.Connection) -> None:
    assert await STORE.primary_version(conn) is None
    ring = await STORE.load(conn, (OLD,))
    assert ring.primary is None and len(ring) == 0
    assert await STORE.ensure_primary(conn, (OLD,)) == 1
    assert await STORE.ensure_primary(conn, (OLD,)) == 1
    assert await _rows(conn) == [(1, "kek-2025", "primary")]
    wrapped = await conn.fetchval("SELECT wrapped_key FROM data_keys WHERE version = 1")
    assert len(wrapped) == 12 + 32 + 16


async def test_create_primary_demotes_the_previous_one(conn: asyncpg.Connection) -> None:
    assert await STORE.create_primary(conn, (OLD,)) == 1
    first = FieldCipher(await STORE.load(conn, (OLD,)))
    sealed = first.encrypt("tunde@example.ng", **FIELD)

    assert await STORE.create_primary(conn, (OLD,)) == 2
    assert await STORE.ensure_primary(conn, (OLD,)) == 2
    assert await _rows(conn) == [(1, "kek-2025", "active"), (2, "kek-2025", "primary")]

    ring = await STORE.load(conn, (OLD,))
    assert ring.primary == 2 and ring.versions == (1, 2)
    second = FieldCipher(ring)
    assert second.decrypt_text(sealed, **FIELD) == "tunde@example.ng"
    assert second.key_version(second.encrypt("x", **FIELD)) == 2
    infos = await STORE.list_keys(conn)
    assert [(i.version, i.status, i.retired_at) for i in infos] == [
        (1, "active", None),
        (2, "primary", None),
    ]


async def test_concurrent_create_primary_gives_distinct_versions(database_url: str) -> None:
    conns = [await connect(database_url) for _ in range(4)]

    async def three(c: asyncpg.Connection) -> list[int]:
        return [await STORE.create_primary(c, (OLD,)) for _ in range(3)]

    try:
        results = [v for vs in await asyncio.gather(*(three(c) for c in conns)) for v in vs]
        assert sorted(results) == list(range(1, 13))
        rows = await _rows(conns[0])
        assert [r[0] for r in rows] == list(range(1, 13))
        assert [r[0] for r in rows if r[2] == "primary"] == [12]
        assert await STORE.primary_version(conns[0]) == 12
    finally:
        for c in conns:
            await c.close()


async def test_concurrent_ensure_primary_creates_one_key(database_url: str) -> None:
    conns = [await connect(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(STORE.ensure_primary(c, (OLD,)) for c in conns))
        assert results == [1, 1, 1, 1]
        assert await _rows(conns[0]) == [(1, "kek-2025", "primary")]
    finally:
        for c in conns:
            await c.close()


async def test_wrong_kek_cannot_unwrap(conn: asyncpg.Connection) -> None:
    await STORE.create_primary(conn, (OLD,))
    impostor = Kek("kek-2025", Secret(b"\x12" * 32))
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: ") as caught:
        await STORE.load(conn, (impostor,))
    assert (b"\x12" * 32).hex() not in str(caught.value)
    with pytest.raises(KeyUnavailableError) as missing:
        await STORE.load(conn, (NEW,))
    assert str(missing.value) == (
        "cannot unwrap data key 1: KEK 'kek-2025' is not configured in EXAMSTUTOR_KEKS"
    )


async def test_tampered_wrapped_key_is_refused(conn: asyncpg.Connection) -> None:
    await STORE.create_primary(conn, (OLD,))
    await conn.execute(
        "UPDATE data_keys"
        " SET wrapped_key = set_byte(wrapped_key, 20, get_byte(wrapped_key, 20) # 1)"
    )
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: authentication"):
        await STORE.load(conn, (OLD,))
    # relabelling the row with another configured KEK's id does not help either
    await STORE.create_primary(conn, (OLD,))
    await conn.execute("UPDATE data_keys SET kek_id = 'kek-2026' WHERE version = 2")
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: "):
        await STORE.load(conn, (NEW, OLD))


async def test_kek_rotation_rewraps_and_old_data_still_decrypts(conn: asyncpg.Connection) -> None:
    await STORE.create_primary(conn, (OLD,))
    before = FieldCipher(await STORE.load(conn, (OLD,)))
    sealed_v1 = before.encrypt("adaeze@example.ng", **FIELD)
    await STORE.create_primary(conn, (OLD,))
    sealed_v2 = FieldCipher(await STORE.load(conn, (OLD,))).encrypt("ngozi@example.ng", **FIELD)

    rotated_config = (NEW, OLD)  # the new KEK first, the old one kept until rewrap is done
    assert await STORE.rewrap_all(conn, rotated_config) == 2
    assert await STORE.rewrap_all(conn, rotated_config) == 0
    assert await _rows(conn) == [(1, "kek-2026", "active"), (2, "kek-2026", "primary")]

    after = FieldCipher(await STORE.load(conn, (NEW,)))  # the old KEK is gone from config
    assert after.decrypt_text(sealed_v1, **FIELD) == "adaeze@example.ng"
    assert after.decrypt_text(sealed_v2, **FIELD) == "ngozi@example.ng"
    # the ring loaded before rotation and the one after hold the same data keys
    assert after.decrypt_text(before.encrypt("same", **FIELD), **FIELD) == "same"
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: "):
        await STORE.load(conn, (OLD,))
    # new keys go under the new primary KEK
    assert await STORE.create_primary(conn, (NEW,)) == 3
    assert (await _rows(conn))[-1] == (3, "kek-2026", "primary")


async def test_rewrap_needs_the_old_kek(conn: asyncpg.Connection) -> None:
    await STORE.create_primary(conn, (OLD,))
    with pytest.raises(KeyUnavailableError, match=r"^cannot unwrap data key 1: KEK 'kek-2025'"):
        await STORE.rewrap_all(conn, (NEW,))
    assert await _rows(conn) == [(1, "kek-2025", "primary")]


async def test_retire(conn: asyncpg.Connection) -> None:
    await STORE.create_primary(conn, (OLD,))
    sealed = FieldCipher(await STORE.load(conn, (OLD,))).encrypt("x", **FIELD)
    with pytest.raises(CryptoError, match="data key 1 is the primary key"):
        await STORE.retire(conn, 1)
    with pytest.raises(KeyUnavailableError, match="there is no data key 9"):
        await STORE.retire(conn, 9)
    await STORE.create_primary(conn, (OLD,))
    await STORE.retire(conn, 1)
    await STORE.retire(conn, 1)  # twice is a no-op
    assert await _rows(conn) == [(1, "kek-2025", "retired"), (2, "kek-2025", "primary")]
    assert (await STORE.list_keys(conn))[0].retired_at is not None

    ring = await STORE.load(conn, (OLD,))
    assert ring.versions == (2,)
    with pytest.raises(KeyUnavailableError, match="data key 1 is not in the key ring"):
        FieldCipher(ring).decrypt(sealed, **FIELD)
    # retired keys are not rewrapped: dropping their KEK shreds them
    assert await STORE.rewrap_all(conn, (NEW, OLD)) == 1
    assert await _rows(conn) == [(1, "kek-2025", "retired"), (2, "kek-2026", "primary")]
    # versions are never reused
    assert await STORE.create_primary(conn, (NEW,)) == 3


async def test_create_inside_a_rolled_back_transaction_leaves_nothing(
    conn: asyncpg.Connection,
) -> None:
    transaction = conn.transaction()
    await transaction.start()
    assert await STORE.create_primary(conn, (OLD,)) == 1
    await transaction.rollback()
    assert await _rows(conn) == []


async def test_no_kek_configured(conn: asyncpg.Connection) -> None:
    with pytest.raises(ConfigurationError, match="EXAMSTUTOR_KEKS is empty"):
        await STORE.create_primary(conn, ())
    with pytest.raises(ConfigurationError, match="EXAMSTUTOR_KEKS is empty"):
        await STORE.ensure_primary(conn, ())

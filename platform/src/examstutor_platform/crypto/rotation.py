"""Key rotation, step by step: a new primary data key (:func:`create_data_key`), every
field ciphertext rewrapped onto it (:func:`rewrap_fields`, see
:mod:`~examstutor_platform.crypto.rewrap`), then the keys no ciphertext uses retired
(:func:`retire_unused_keys`); :func:`rows_off_primary` is what the
``all_rows_on_primary_key`` check counts. KEK rotation (a new KEK first in
``EXAMSTUTOR_KEKS``) rewraps only the data keys (:func:`rewrap_keks`).
"""

from __future__ import annotations

import asyncio

from examstutor_platform.crypto.fields import FORMAT_V1, HEADER_BYTES
from examstutor_platform.crypto.keyring import DataKeyStore
from examstutor_platform.crypto.rewrap import (
    RING_SETTLE_SECONDS,
    RewrapProgress,
    RewrapResult,
    RotationInProgressError,
    TableRewrap,
    ciphertext_header,
    primary_key_age,
    rewrap_fields,
    rotation_lock,
)
from examstutor_platform.crypto.rotation_queries import TABLE_QUERIES
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.settings import Settings

__all__ = [
    "RING_SETTLE_SECONDS",
    "RewrapProgress",
    "RewrapResult",
    "RotationInProgressError",
    "TableRewrap",
    "create_data_key",
    "key_versions_in_use",
    "retire_unused_keys",
    "rewrap_fields",
    "rewrap_keks",
    "rows_off_primary",
]

_store = DataKeyStore()


async def create_data_key(conn: DbConnection, settings: Settings) -> int:
    """Make a new primary data key (the old primary stays to decrypt); return its version."""
    return await _store.create_primary(conn, settings.keks)


async def rewrap_keks(conn: DbConnection, settings: Settings) -> int:
    """KEK rotation: rewrap every live data key under the first KEK; return how many.

    No row changes. Afterwards the old KEK can leave ``EXAMSTUTOR_KEKS``.
    """
    return await _store.rewrap_all(conn, settings.keks)


async def rows_off_primary(conn: DbConnection) -> dict[str, int]:
    """Rows per encrypted table holding a ciphertext that is not under the primary key
    (or labelled with another ``key_version``); all zero when rotation is complete."""
    primary, _ = await primary_key_age(conn)
    header = ciphertext_header(primary)
    return {
        name: await conn.fetchval(q.count_off_primary, primary, header)
        for name, q in TABLE_QUERIES.items()
    }


def _header_version(header: bytes) -> int | None:
    if len(header) < HEADER_BYTES or header[0] != FORMAT_V1:
        return None  # not a field ciphertext: it uses no key
    return int.from_bytes(header[1:HEADER_BYTES], "big")


async def key_versions_in_use(conn: DbConnection) -> frozenset[int]:
    """Every data-key version named by a ciphertext header in any encrypted table."""
    versions: set[int] = set()
    for q in TABLE_QUERIES.values():
        for row in await conn.fetch(q.headers_in_use):
            version = _header_version(bytes(row["header"]))
            if version is not None:
                versions.add(version)
    return frozenset(versions)


async def retire_unused_keys(
    conn: DbConnection, settings: Settings, *, settle_seconds: float = RING_SETTLE_SECONDS
) -> list[int]:
    """Retire every non-primary key that no ciphertext uses any more; return their versions.

    Waits first until the primary key is ``settle_seconds`` old, so that no API
    still encrypts under a key being retired. ``settings`` is taken for symmetry
    with the other rotation steps; retiring needs no key material.
    """
    del settings
    async with rotation_lock(conn):
        primary, age = await primary_key_age(conn)
        if primary is None:
            return []
        if age < settle_seconds:
            await asyncio.sleep(settle_seconds - age)
        in_use = await key_versions_in_use(conn)
        retired: list[int] = []
        for info in await _store.list_keys(conn):
            if info.status == "active" and info.version not in in_use:
                await _store.retire(conn, info.version)
                retired.append(info.version)
        return retired

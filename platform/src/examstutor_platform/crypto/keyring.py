"""Data keys (DEKs) wrapped under key-encryption keys (KEKs), and the ring that holds them.

Envelope encryption: each DEK is 32 random bytes, stored in ``data_keys`` wrapped
with AES-256-GCM under a KEK from ``EXAMSTUTOR_KEKS``::

    wrapped_key = nonce (12 bytes) ‖ ciphertext+tag (32 + 16 bytes)
    associated data = b"examstutor/data-key/v1" ‖ 0x00 ‖ version (uint32 BE) ‖ kek_id (UTF-8)

so a wrapped key copied to another version or relabelled with another KEK id fails
to unwrap. Rotating a KEK rewraps only the DEKs (:meth:`DataKeyStore.rewrap_all`);
rotating a DEK (:meth:`DataKeyStore.create_primary`) makes a new primary and
leaves the rows to be re-encrypted by the pipelines.

A key's status is ``primary`` (encrypts and decrypts; at most one), ``active``
(decrypts only) or ``retired`` (not loaded; no row may use it any more).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import ConfigurationError, CryptoError, KeyUnavailableError
from examstutor_platform.secrets import Secret
from examstutor_platform.settings import Kek

__all__ = [
    "DEK_BYTES",
    "DataKeyInfo",
    "DataKeyStore",
    "KeyRing",
    "unwrap_data_key",
    "wrap_data_key",
]

DEK_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_BYTES = _NONCE_BYTES + DEK_BYTES + _TAG_BYTES
_WRAP_CONTEXT = b"examstutor/data-key/v1\x00"
_MAX_VERSION = 0xFFFF_FFFF

_QUERIES = load_queries("examstutor_platform.crypto", "data_keys.sql")


class KeyRing:
    """Unwrapped data keys by version, and which one is primary; repr shows versions only."""

    __slots__ = ("_keys", "_primary")

    def __init__(self, keys: Mapping[int, Secret], primary: int | None) -> None:
        for version, key in keys.items():
            if not 0 < version <= _MAX_VERSION:
                raise ValueError(f"data key version {version} is outside 1..{_MAX_VERSION}")
            if not isinstance(key, Secret) or len(key) != DEK_BYTES:
                raise ValueError(f"data key {version} must be a Secret of {DEK_BYTES} bytes")
        if primary is not None and primary not in keys:
            raise ValueError(f"primary data key {primary} is not in the ring")
        self._keys: Mapping[int, Secret] = MappingProxyType(dict(sorted(keys.items())))
        self._primary = primary

    @property
    def primary(self) -> int | None:
        """Version of the primary key (the one new ciphertext uses), or None if there is none."""
        return self._primary

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version in the ring, ascending."""
        return tuple(self._keys)

    def key(self, version: int) -> Secret:
        """The data key of ``version``; :class:`KeyUnavailableError` if the ring lacks it."""
        try:
            return self._keys[version]
        except KeyError:
            raise KeyUnavailableError(
                f"data key {version} is not in the key ring (unknown, retired or not loaded)"
            ) from None

    def __contains__(self, version: object) -> bool:
        return version in self._keys

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(primary={self._primary}, versions={list(self._keys)})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a KeyRing cannot be pickled")


@dataclass(frozen=True, slots=True)
class DataKeyInfo:
    """A row of ``data_keys`` without its key material."""

    version: int
    kek_id: str
    status: str
    created_at: datetime
    retired_at: datetime | None


def _wrap_aad(version: int, kek_id: str) -> bytes:
    return _WRAP_CONTEXT + version.to_bytes(4, "big") + kek_id.encode("utf-8")


def wrap_data_key(dek: Secret, *, version: int, kek: Kek) -> bytes:
    """``dek`` encrypted under ``kek``, bound to ``version`` and the KEK's id."""
    if len(dek) != DEK_BYTES:
        raise ValueError(f"a data key is {DEK_BYTES} bytes")
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek.key.reveal()).encrypt(nonce, dek.reveal(), _wrap_aad(version, kek.id))
    return nonce + sealed


def unwrap_data_key(wrapped: bytes, *, version: int, kek: Kek) -> Secret:
    """The data key inside ``wrapped``; :class:`KeyUnavailableError` if it does not unwrap."""
    if len(wrapped) != _WRAPPED_BYTES:
        raise KeyUnavailableError(
            f"cannot unwrap data key {version}: wrapped key is {len(wrapped)} bytes, "
            f"expected {_WRAPPED_BYTES}"
        )
    try:
        raw = AESGCM(kek.key.reveal()).decrypt(
            wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _wrap_aad(version, kek.id)
        )
    except InvalidTag:
        raise KeyUnavailableError(
            f"cannot unwrap data key {version}: authentication failed under KEK {kek.id!r} "
            "(wrong KEK material or altered wrapped key)"
        ) from None
    return Secret(raw)


def _kek_by_id(keks: Sequence[Kek], kek_id: str, version: int) -> Kek:
    for kek in keks:
        if kek.id == kek_id:
            return kek
    raise KeyUnavailableError(
        f"cannot unwrap data key {version}: KEK {kek_id!r} is not configured in EXAMSTUTOR_KEKS"
    )


def _primary_kek(keks: Sequence[Kek]) -> Kek:
    if not keks:
        raise ConfigurationError("EXAMSTUTOR_KEKS is empty: no KEK to wrap data keys with")
    return keks[0]


class DataKeyStore:
    """Reads and writes wrapped data keys in ``data_keys`` over a caller's asyncpg connection.

    Writers take ``LOCK TABLE data_keys IN EXCLUSIVE MODE`` inside their own
    transaction (a savepoint if the caller already has one), so concurrent
    writers from several processes serialise while readers go on. Call the
    writers outside a transaction, or inside a READ COMMITTED one.
    """

    async def load(self, conn: DbConnection, keks: Sequence[Kek]) -> KeyRing:
        """Every non-retired key, unwrapped; :class:`KeyUnavailableError` if one cannot be."""
        rows = await conn.fetch(_QUERIES["live_keys"])
        keys: dict[int, Secret] = {}
        primary: int | None = None
        for row in rows:
            version: int = row["version"]
            kek = _kek_by_id(keks, row["kek_id"], version)
            keys[version] = unwrap_data_key(bytes(row["wrapped_key"]), version=version, kek=kek)
            if row["status"] == "primary":
                primary = version
        return KeyRing(keys, primary)

    async def list_keys(self, conn: DbConnection) -> list[DataKeyInfo]:
        """Every key's version, KEK id, status and dates (no key material), by version."""
        rows = await conn.fetch(_QUERIES["all_keys"])
        return [
            DataKeyInfo(
                version=row["version"],
                kek_id=row["kek_id"],
                status=row["status"],
                created_at=row["created_at"],
                retired_at=row["retired_at"],
            )
            for row in rows
        ]

    async def primary_version(self, conn: DbConnection) -> int | None:
        """The primary key's version, or None when there is none."""
        version: int | None = await conn.fetchval(_QUERIES["primary_version"])
        return version

    async def create_primary(self, conn: DbConnection, keks: Sequence[Kek]) -> int:
        """Make a new data key, wrapped under the primary KEK, the primary; return its version.

        The previous primary becomes ``active`` (decrypt-only) in the same transaction.
        """
        kek = _primary_kek(keks)
        async with conn.transaction():
            await conn.execute(_QUERIES["lock_data_keys"])
            return await self._create_locked(conn, kek)

    async def ensure_primary(self, conn: DbConnection, keks: Sequence[Kek]) -> int:
        """The primary key's version, creating a first data key if there is none."""
        version = await self.primary_version(conn)
        if version is not None:
            return version
        kek = _primary_kek(keks)
        async with conn.transaction():
            await conn.execute(_QUERIES["lock_data_keys"])
            version = await self.primary_version(conn)
            if version is not None:
                return version
            return await self._create_locked(conn, kek)

    async def rewrap_all(self, conn: DbConnection, keks: Sequence[Kek]) -> int:
        """Rewrap every live key not under the primary KEK onto it; return how many.

        This is KEK rotation: put the new KEK first in ``EXAMSTUTOR_KEKS``, keep the
        old one after it, run this, then drop the old one. Retired keys are left as
        they are (no row uses them; dropping their KEK shreds them).
        """
        target = _primary_kek(keks)
        async with conn.transaction():
            await conn.execute(_QUERIES["lock_data_keys"])
            rows = await conn.fetch(_QUERIES["live_keys"])
            updates: list[tuple[int, str, bytes]] = []
            for row in rows:
                if row["kek_id"] == target.id:
                    continue
                version = row["version"]
                old = _kek_by_id(keks, row["kek_id"], version)
                dek = unwrap_data_key(bytes(row["wrapped_key"]), version=version, kek=old)
                updates.append(
                    (version, target.id, wrap_data_key(dek, version=version, kek=target))
                )
            if updates:
                await conn.executemany(_QUERIES["update_wrapping"], updates)
        return len(updates)

    async def retire(self, conn: DbConnection, version: int) -> None:
        """Mark an active key retired (it is no longer loaded); retiring twice is a no-op.

        Refuses the primary key (:class:`CryptoError`) and unknown versions
        (:class:`KeyUnavailableError`). Whether rows still use the key is the
        caller's to check first.
        """
        async with conn.transaction():
            await conn.execute(_QUERIES["lock_data_keys"])
            status: str | None = await conn.fetchval(_QUERIES["key_status"], version)
            if status is None:
                raise KeyUnavailableError(f"there is no data key {version}")
            if status == "primary":
                raise CryptoError(
                    f"data key {version} is the primary key; make a new primary before retiring it"
                )
            if status == "active":
                await conn.execute(_QUERIES["retire_key"], version)

    async def _create_locked(self, conn: DbConnection, kek: Kek) -> int:
        version: int = await conn.fetchval(_QUERIES["next_version"])
        if version > _MAX_VERSION:
            raise CryptoError("data key versions are exhausted")
        dek = Secret(os.urandom(DEK_BYTES))
        wrapped = wrap_data_key(dek, version=version, kek=kek)
        await conn.execute(_QUERIES["demote_primary"])
        await conn.execute(_QUERIES["insert_primary"], version, kek.id, wrapped)
        return version

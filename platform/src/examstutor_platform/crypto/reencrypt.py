"""Key rotation's hot loop: many field ciphertexts re-encrypted under the primary key.

:class:`BatchReencryptor` writes exactly :class:`~examstutor_platform.crypto.fields.FieldCipher`'s
format (``0x01 ‖ version ‖ nonce ‖ ciphertext+tag``, associated data ``header ‖ table
‖ 0x00 ‖ column ‖ 0x00 ‖ row id``), a column at a time: the AEAD objects and each
field's associated-data prefix are built once, and one ``os.urandom`` call gives
every nonce of the column. A value that does not decrypt is handed to FieldCipher,
whose error (:class:`DecryptionError` or :class:`KeyUnavailableError`) names why.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from examstutor_platform.crypto.encrypted_columns import EncryptedTable
from examstutor_platform.crypto.fields import FORMAT_V1, HEADER_BYTES, FieldCipher
from examstutor_platform.crypto.keyring import KeyRing
from examstutor_platform.errors import CryptoError, DecryptionError, KeyUnavailableError
from examstutor_platform.settings import b64url_decode, b64url_encode

__all__ = ["BatchReencryptor", "ciphertext_header", "rewrap_rows"]

_NONCE_BYTES = 12


def ciphertext_header(version: int | None) -> bytes:
    """The 5-byte ciphertext header of ``version`` (no header when there is no key)."""
    return b"" if version is None else bytes((FORMAT_V1,)) + version.to_bytes(4, "big")


class BatchReencryptor:
    """Re-encrypts columns of field ciphertexts under a ring's primary key."""

    __slots__ = ("_aeads", "_cipher", "_header", "_primary", "primary_version")

    def __init__(self, keyring: KeyRing) -> None:
        if keyring.primary is None:
            raise KeyUnavailableError("there is no primary data key to rewrap onto")
        self._cipher = FieldCipher(keyring)
        self._aeads = {ciphertext_header(v): AESGCM(keyring.key(v).reveal()) for v in keyring}
        self.primary_version: int = keyring.primary
        self._header = ciphertext_header(keyring.primary)
        self._primary = self._aeads[self._header]

    @property
    def keyring(self) -> KeyRing:
        """The ring whose keys decrypt and whose primary encrypts."""
        return self._cipher.keyring

    def column(
        self, table: str, column: str, values: Sequence[bytes | None], row_ids: Sequence[str]
    ) -> list[bytes | None]:
        """Each value under the primary key, for the row of the same index; None stays
        None and a value already under the primary key is kept once it authenticates."""
        field = f"{table}\x00{column}\x00".encode()
        new_prefix = self._header + field
        nonces = os.urandom(_NONCE_BYTES * len(values))
        aeads, primary_header, encrypt = self._aeads, self._header, self._primary.encrypt
        out: list[bytes | None] = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            header = value[:HEADER_BYTES]
            row_id = row_ids[i].encode()
            aead = aeads.get(header)
            try:
                if aead is None:
                    raise InvalidTag
                plain = aead.decrypt(value[5:17], value[17:], header + field + row_id)
            except (InvalidTag, ValueError):
                raise self._why(value, table, column, row_ids[i]) from None
            if header == primary_header:
                out.append(value)
                continue
            nonce = nonces[_NONCE_BYTES * i : _NONCE_BYTES * (i + 1)]
            out.append(primary_header + nonce + encrypt(nonce, plain, new_prefix + row_id))
        return out

    def _why(self, value: bytes, table: str, column: str, row_id: str) -> CryptoError:
        """FieldCipher's error for a value that does not decrypt, naming the row."""
        try:
            self._cipher.decrypt(value, table=table, column=column, row_id=row_id)
        except CryptoError as exc:
            return type(exc)(f"{table}.{column} of row {row_id}: {exc}")
        return DecryptionError(f"{table}.{column} of row {row_id}: unreadable ciphertext")


def rewrap_rows(
    reencryptor: BatchReencryptor, table: EncryptedTable, rows: Sequence[asyncpg.Record]
) -> list[list[object]]:
    """The arrays of a batch update: ctids, ids, xmins and key versions as read, then
    each field's new ciphertexts under the primary key.

    ``rows`` are ``(id, ctid, xmin, key_version, *fields)`` as the ``table_*_batch``
    queries select them; embedded fields are base64url text.
    """
    # ctid, id, xmin, key_version: the order of table_rewrap_batch's $4 to $7
    arrays: list[list[object]] = [[r[i] for r in rows] for i in (1, 0, 2, 3)]
    row_ids = [str(r[0]) for r in rows]
    bytea_fields = len(table.columns)
    for i, column in enumerate(table.aad_columns):
        values = [r[4 + i] for r in rows]
        if i < bytea_fields:
            arrays.append(list(reencryptor.column(table.name, column, values, row_ids)))
            continue
        raw: list[bytes | None] = []
        for row_id, text in zip(row_ids, values, strict=True):
            try:
                raw.append(None if text is None else b64url_decode(text))
            except ValueError:
                raise DecryptionError(
                    f"{table.name}.{column} of row {row_id}: not base64url text"
                ) from None
        sealed = reencryptor.column(table.name, column, raw, row_ids)
        arrays.append([None if s is None else b64url_encode(s) for s in sealed])
    return arrays

"""Field encryption: AES-256-GCM under the key ring's data keys, bound to table, column and row.

A ciphertext (a ``bytea`` ``*_enc`` column) is::

    0x01 (format) ‖ key version (uint32 big-endian) ‖ nonce (12 bytes) ‖ ciphertext+tag (16)

and its associated data is::

    header (the first 5 bytes above) ‖ table ‖ 0x00 ‖ column ‖ 0x00 ‖ row id (UTF-8)

So a ciphertext copied to another row, column or table, one whose header was
edited, or any flipped, cut or added byte fails with :class:`DecryptionError`.
A version the ring does not hold (unknown, retired, or created after the ring
was loaded) fails with :class:`KeyUnavailableError`.

Row ids are bound as text: ``str(row_id)``. A UUID is therefore bound as its
canonical lowercase hyphenated form (what PostgreSQL prints); pass the same
form every time. Table and column names must not contain NUL.
"""

from __future__ import annotations

from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from examstutor_platform.crypto.keyring import KeyRing
from examstutor_platform.crypto.nonces import nonce as _nonce
from examstutor_platform.errors import CryptoError, DecryptionError, KeyUnavailableError

__all__ = ["FORMAT_V1", "HEADER_BYTES", "MIN_CIPHERTEXT_BYTES", "FieldCipher", "RowId"]

FORMAT_V1 = 0x01
HEADER_BYTES = 5
_NONCE_END = HEADER_BYTES + 12
MIN_CIPHERTEXT_BYTES = _NONCE_END + 16

RowId = str | int | UUID
"""A row's id as the associated data binds it (``str(row_id)``)."""


_CACHE_LIMIT = 256  # distinct tables, and columns per table, whose AAD prefix is kept
_NO_HEADER = b"\x00" * (HEADER_BYTES + 1)


def _header(version: int) -> bytes:
    return bytes((FORMAT_V1,)) + version.to_bytes(4, "big")


def _field_aad(table: str, column: str) -> bytes:
    """``table ‖ 0x00 ‖ column ‖ 0x00``, after checking the names cannot blur together."""
    if not isinstance(table, str) or not isinstance(column, str):
        raise TypeError("table and column must be str")
    if not table or not column or "\x00" in table or "\x00" in column:
        raise ValueError("table and column names must be non-empty and contain no NUL")
    return f"{table}\x00{column}\x00".encode()


class FieldCipher:
    """Encrypts with the ring's primary data key; decrypts with any key the ring holds."""

    __slots__ = (
        "_by_header",
        "_keyring",
        "_prefixes",
        "_primary",
        "_primary_aead",
        "_primary_header",
    )

    def __init__(self, keyring: KeyRing) -> None:
        self._keyring = keyring
        # one AESGCM object per version, keyed by the 5-byte header that names it
        self._by_header: dict[bytes, AESGCM] = {
            _header(version): AESGCM(keyring.key(version).reveal()) for version in keyring
        }
        self._primary = keyring.primary
        # without a primary, a 6-byte sentinel that no 5-byte header slice can equal
        self._primary_header = _header(self._primary) if self._primary is not None else _NO_HEADER
        self._primary_aead = self._by_header.get(self._primary_header)
        # primary header ‖ table ‖ 0 ‖ column ‖ 0, by table then column
        self._prefixes: dict[str, dict[str, bytes]] = {}

    def __repr__(self) -> str:
        return f"FieldCipher({self._keyring!r})"

    @property
    def keyring(self) -> KeyRing:
        """The ring this cipher uses."""
        return self._keyring

    @property
    def primary_version(self) -> int:
        """Version of the key :meth:`encrypt` uses; :class:`KeyUnavailableError` if none."""
        if self._primary is None:
            raise KeyUnavailableError("the key ring has no primary data key to encrypt with")
        return self._primary

    def encrypt(self, plaintext: str | bytes, *, table: str, column: str, row_id: RowId) -> bytes:
        """``plaintext`` (text as UTF-8) sealed under the primary key, bound to its field."""
        try:
            # only filled while there is a primary key (see _primary_field_prefix)
            prefix = self._prefixes[table][column]
        except KeyError:
            prefix = self._primary_field_prefix(table, column)
        if type(plaintext) is not bytes:
            plaintext = _plaintext_bytes(plaintext)
        nonce = _nonce()  # fresh from the OS, drawn in blocks (see .nonces)
        aead: AESGCM = self._primary_aead  # type: ignore[assignment]  # set with a primary
        sealed = aead.encrypt(nonce, plaintext, prefix + f"{row_id}".encode())
        return b"".join((self._primary_header, nonce, sealed))

    def decrypt(self, ciphertext: bytes, *, table: str, column: str, row_id: RowId) -> bytes:
        """The plaintext bytes of a ciphertext made for exactly this table, column and row."""
        # literal offsets on the hot path: 5 = HEADER_BYTES, 17 = header + nonce
        if ciphertext[:5] == self._primary_header:
            aead: AESGCM = self._primary_aead  # type: ignore[assignment]  # set with the header
            try:
                aad = self._prefixes[table][column] + f"{row_id}".encode()
            except KeyError:
                aad = self._primary_field_prefix(table, column) + f"{row_id}".encode()
        else:
            ciphertext = _as_bytes(ciphertext)
            header = ciphertext[:HEADER_BYTES]
            found = self._by_header.get(header)
            if found is None or len(ciphertext) < MIN_CIPHERTEXT_BYTES:
                raise _unreadable(ciphertext)
            aead = found
            aad = header + _field_aad(table, column) + f"{row_id}".encode()
        try:
            return aead.decrypt(ciphertext[5:17], ciphertext[17:], aad)
        except (InvalidTag, ValueError):  # ValueError: a nonce cut short
            raise _unauthentic(ciphertext, table, column) from None

    def decrypt_text(self, ciphertext: bytes, *, table: str, column: str, row_id: RowId) -> str:
        """:meth:`decrypt`, decoded as UTF-8."""
        raw = self.decrypt(ciphertext, table=table, column=column, row_id=row_id)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError(f"plaintext of {table}.{column} is not UTF-8 text") from None

    def reencrypt(self, ciphertext: bytes, *, table: str, column: str, row_id: RowId) -> bytes:
        """The same plaintext under the primary key (key rotation).

        The ciphertext is authenticated first; one already under the primary key
        is returned unchanged.
        """
        plaintext = self.decrypt(ciphertext, table=table, column=column, row_id=row_id)
        if self.key_version(ciphertext) == self._primary:
            return bytes(ciphertext)
        return self.encrypt(plaintext, table=table, column=column, row_id=row_id)

    def _primary_field_prefix(self, table: str, column: str) -> bytes:
        """Build (and keep, within limits) the primary key's AAD prefix for a field;
        :class:`KeyUnavailableError` when the ring has no primary key (so nothing is
        kept, and :meth:`encrypt` finds no prefix without coming here)."""
        if self._primary_aead is None:
            raise KeyUnavailableError("the key ring has no primary data key to encrypt with")
        prefix = self._primary_header + _field_aad(table, column)
        columns = self._prefixes.get(table)
        if columns is None and len(self._prefixes) < _CACHE_LIMIT:
            columns = self._prefixes.setdefault(table, {})
        if columns is not None and len(columns) < _CACHE_LIMIT:
            columns[column] = prefix
        return prefix

    @staticmethod
    def key_version(ciphertext: bytes) -> int:
        """The data-key version named in a ciphertext's header (not authenticated here)."""
        if len(ciphertext) < MIN_CIPHERTEXT_BYTES or ciphertext[0] != FORMAT_V1:
            raise DecryptionError("not a field ciphertext: too short or unknown format byte")
        return int.from_bytes(ciphertext[1:HEADER_BYTES], "big")


def _plaintext_bytes(plaintext: object) -> bytes:
    if isinstance(plaintext, str):
        return plaintext.encode()
    if isinstance(plaintext, bytes | bytearray | memoryview):
        return bytes(plaintext)
    raise TypeError(f"plaintext must be str or bytes, not {type(plaintext).__name__}")


def _as_bytes(ciphertext: object) -> bytes:
    if type(ciphertext) is bytes:
        return ciphertext
    if isinstance(ciphertext, bytes | bytearray | memoryview):
        return bytes(ciphertext)
    raise TypeError(f"ciphertext must be bytes, not {type(ciphertext).__name__}")


def _unauthentic(ciphertext: bytes, table: str, column: str) -> DecryptionError:
    if len(ciphertext) < MIN_CIPHERTEXT_BYTES:
        return DecryptionError(
            f"ciphertext is {len(ciphertext)} bytes; a field ciphertext is at least "
            f"{MIN_CIPHERTEXT_BYTES}"
        )
    return DecryptionError(
        f"ciphertext for {table}.{column} does not authenticate: altered, truncated, "
        "or made for another row or column"
    )


def _unreadable(ciphertext: bytes) -> CryptoError:
    """The error for a ciphertext whose header names no key in the ring (slow path)."""
    if len(ciphertext) < MIN_CIPHERTEXT_BYTES:
        return DecryptionError(
            f"ciphertext is {len(ciphertext)} bytes; a field ciphertext is at least "
            f"{MIN_CIPHERTEXT_BYTES}"
        )
    if ciphertext[0] != FORMAT_V1:
        return DecryptionError(f"unknown ciphertext format byte 0x{ciphertext[0]:02x}")
    version = int.from_bytes(ciphertext[1:HEADER_BYTES], "big")
    return KeyUnavailableError(
        f"data key {version} is not in the key ring (unknown, retired or not loaded)"
    )

"""Where field ciphertexts live: the one registry that key rotation, key retirement and
the ``all_rows_on_primary_key`` check read.

Every ``*_enc`` column of a row, and every ciphertext embedded in its jsonb columns,
is encrypted under the row's ``key_version`` and bound (FieldCipher associated data)
to ``(table, column, str(row id))``. A test compares this registry with the
``*_enc`` columns of the live schema, so a new encrypted column cannot be left out.

An embedded ciphertext is a FieldCipher ciphertext, as unpadded base64url text
(:func:`~examstutor_platform.settings.b64url_encode`), kept under one key of a jsonb
column; its associated data names a column of its own (``payload_token``), not the
jsonb column. The API writes ``outbox.payload["token_enc"]`` that way::

    b64url_encode(cipher.encrypt(token, table="outbox", column="payload_token", row_id=outbox_id))
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ENCRYPTED_TABLES",
    "EmbeddedCiphertext",
    "EncryptedTable",
    "encrypted_table",
]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check_identifier(name: str, what: str) -> None:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} is not a plain lowercase SQL identifier")


@dataclass(frozen=True)
class EmbeddedCiphertext:
    """A base64url field ciphertext kept under ``key`` of the jsonb column ``column``."""

    column: str
    key: str
    aad_column: str

    def __post_init__(self) -> None:
        _check_identifier(self.column, "jsonb column")
        _check_identifier(self.key, "jsonb key")
        _check_identifier(self.aad_column, "associated-data column")


@dataclass(frozen=True)
class EncryptedTable:
    """A table whose ciphertexts are all under its rows' ``key_version``."""

    name: str
    id_column: str
    id_type: str
    columns: tuple[str, ...]
    embedded: tuple[EmbeddedCiphertext, ...] = ()

    def __post_init__(self) -> None:
        _check_identifier(self.name, "table")
        _check_identifier(self.id_column, "id column")
        _check_identifier(self.id_type, "id type")
        if not self.columns:
            raise ValueError(f"{self.name}: an encrypted table needs at least one column")
        for column in self.columns:
            _check_identifier(column, "column")
            if not column.endswith("_enc"):
                raise ValueError(f"{self.name}.{column}: encrypted columns end in _enc")
        names = [*self.columns, *(e.aad_column for e in self.embedded)]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a column is named twice")
        holders = [e.column for e in self.embedded]
        if len(set(holders)) != len(holders):
            raise ValueError(f"{self.name}: one embedded ciphertext per jsonb column")

    @property
    def aad_columns(self) -> tuple[str, ...]:
        """The column names bound in the associated data: bytea columns, then embedded ones."""
        return (*self.columns, *(e.aad_column for e in self.embedded))


ENCRYPTED_TABLES: tuple[EncryptedTable, ...] = (
    EncryptedTable(
        "students",
        "id",
        "uuid",
        ("email_enc", "full_name_enc", "phone_enc", "date_of_birth_enc", "guardian_email_enc"),
    ),
    EncryptedTable("staff", "id", "uuid", ("email_enc",)),
    EncryptedTable("questions", "id", "uuid", ("body_enc",)),
    EncryptedTable(
        "outbox",
        "id",
        "uuid",
        ("recipient_enc",),
        (EmbeddedCiphertext("payload", "token_enc", "payload_token"),),
    ),
)
"""Every table holding field ciphertexts (students, staff, questions, outbox)."""


def encrypted_table(name: str) -> EncryptedTable:
    """The registry entry of ``name``; ``KeyError`` naming the known tables otherwise."""
    for table in ENCRYPTED_TABLES:
        if table.name == name:
            return table
    known = ", ".join(t.name for t in ENCRYPTED_TABLES)
    raise KeyError(f"{name!r} holds no registered ciphertexts; the encrypted tables are {known}")

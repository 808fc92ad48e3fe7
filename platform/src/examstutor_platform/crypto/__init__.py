"""Keys and hashes: envelope data keys, field encryption, blind indexes, pseudonyms, passwords,
and key rotation."""

from __future__ import annotations

from examstutor_platform.crypto.encrypted_columns import (
    ENCRYPTED_TABLES,
    EmbeddedCiphertext,
    EncryptedTable,
    encrypted_table,
)
from examstutor_platform.crypto.fields import FieldCipher, RowId
from examstutor_platform.crypto.hashing import BlindIndex, Pseudonymiser, normalise_email
from examstutor_platform.crypto.keyring import (
    DataKeyInfo,
    DataKeyStore,
    KeyRing,
    unwrap_data_key,
    wrap_data_key,
)
from examstutor_platform.crypto.passwords import (
    DEFAULT_PROFILE,
    LIGHT_PROFILE,
    Argon2Profile,
    hash_password,
    needs_rehash,
    verify_password,
)
from examstutor_platform.crypto.rotation import (
    RING_SETTLE_SECONDS,
    RewrapProgress,
    RewrapResult,
    RotationInProgressError,
    TableRewrap,
    create_data_key,
    key_versions_in_use,
    retire_unused_keys,
    rewrap_fields,
    rewrap_keks,
    rows_off_primary,
)

__all__ = [
    "DEFAULT_PROFILE",
    "ENCRYPTED_TABLES",
    "LIGHT_PROFILE",
    "RING_SETTLE_SECONDS",
    "Argon2Profile",
    "BlindIndex",
    "DataKeyInfo",
    "DataKeyStore",
    "EmbeddedCiphertext",
    "EncryptedTable",
    "FieldCipher",
    "KeyRing",
    "Pseudonymiser",
    "RewrapProgress",
    "RewrapResult",
    "RotationInProgressError",
    "RowId",
    "TableRewrap",
    "create_data_key",
    "encrypted_table",
    "hash_password",
    "key_versions_in_use",
    "needs_rehash",
    "normalise_email",
    "retire_unused_keys",
    "rewrap_fields",
    "rewrap_keks",
    "rows_off_primary",
    "unwrap_data_key",
    "verify_password",
    "wrap_data_key",
]

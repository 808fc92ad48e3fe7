"""Keys and hashes: envelope data keys, field encryption, blind indexes, pseudonyms, passwords."""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_PROFILE",
    "LIGHT_PROFILE",
    "Argon2Profile",
    "BlindIndex",
    "DataKeyInfo",
    "DataKeyStore",
    "FieldCipher",
    "KeyRing",
    "Pseudonymiser",
    "RowId",
    "hash_password",
    "needs_rehash",
    "normalise_email",
    "unwrap_data_key",
    "verify_password",
    "wrap_data_key",
]

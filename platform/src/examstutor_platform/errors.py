"""Errors raised by the ExamsTutor core.

Every error the core raises derives from :class:`PlatformError`, so the API and
the pipelines translate one family at their edge::

    PlatformError
    ├── ConfigurationError        a setting is missing or malformed
    ├── DatabaseError
    │   └── MigrationError        a migration could not be applied
    ├── CryptoError
    │   ├── KeyUnavailableError   a key version is unknown or cannot be unwrapped
    │   └── DecryptionError       ciphertext tampered with, or bound to another field
    ├── MaskingError
    │   └── UnknownStrategyError  no masking strategy has that name
    ├── PolicyError               the retention policy file is invalid
    └── AuditError
        ├── AuditWriteError       an audit event could not be stored (fail closed)
        ├── ChainBrokenError      a recomputed hash chain differs from the stored one
        └── SignatureError        a seal or manifest signature does not verify

Messages name what is wrong and where; they never carry key material.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "AuditWriteError",
    "ChainBrokenError",
    "ConfigurationError",
    "CryptoError",
    "DatabaseError",
    "DecryptionError",
    "KeyUnavailableError",
    "MaskingError",
    "MigrationError",
    "PlatformError",
    "PolicyError",
    "SignatureError",
    "UnknownStrategyError",
]


class PlatformError(Exception):
    """Root of every error the core raises."""


class ConfigurationError(PlatformError):
    """A setting is missing or malformed; the message names the variable."""


class DatabaseError(PlatformError):
    """The database could not be reached or set up."""


class MigrationError(DatabaseError):
    """A schema migration could not be applied, or the applied ones were edited."""


class CryptoError(PlatformError):
    """Base of encryption and key errors."""


class KeyUnavailableError(CryptoError):
    """A key version is unknown, retired or cannot be unwrapped with the configured KEKs."""


class DecryptionError(CryptoError):
    """Ciphertext was tampered with, truncated, or belongs to another table, column or row."""


class MaskingError(PlatformError):
    """A masking strategy was misconfigured or given a value it cannot mask."""


class UnknownStrategyError(MaskingError):
    """No masking strategy is registered under the requested name."""


class PolicyError(PlatformError):
    """The retention policy file is invalid; the message names file, category and field."""


class AuditError(PlatformError):
    """Base of audit log errors."""


class AuditWriteError(AuditError):
    """An audit event could not be made durable; the caller must fail closed."""


class ChainBrokenError(AuditError):
    """A recomputed hash chain differs from the stored chain; ``seq`` names the first bad row."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class SignatureError(AuditError):
    """A seal or manifest signature does not verify under the given public key."""

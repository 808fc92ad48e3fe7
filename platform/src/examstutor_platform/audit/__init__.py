"""The audit log: events, their canonical form and hash chain, signatures, the writer.

- :mod:`~examstutor_platform.audit.events` — what an event holds (pseudonyms only);
- :mod:`~examstutor_platform.audit.canonical` — the exact bytes that are hashed (CONTRACT §6);
- :mod:`~examstutor_platform.audit.chain` — the daily hash chain and its verification;
- :mod:`~examstutor_platform.audit.signing` — Ed25519 seals and export manifests;
- :mod:`~examstutor_platform.audit.writer` — group-commit writes that callers await.
"""

from __future__ import annotations

from examstutor_platform.audit.canonical import (
    EXPORT_COLUMNS,
    canonical,
    canonical_json,
    details_json,
    export_row,
    format_timestamp,
)
from examstutor_platform.audit.chain import (
    GENESIS,
    ChainBuilder,
    chain_hashes,
    chain_step,
    verify_chain,
)
from examstutor_platform.audit.events import ACTIONS, COLUMNS, AuditEvent, AuditRecord
from examstutor_platform.audit.signing import (
    Signer,
    load_public_key,
    seal_payload,
    sign_manifest,
    verify,
    verify_manifest,
)
from examstutor_platform.audit.writer import AuditWriter, AuditWriterStats

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "EXPORT_COLUMNS",
    "GENESIS",
    "AuditEvent",
    "AuditRecord",
    "AuditWriter",
    "AuditWriterStats",
    "ChainBuilder",
    "Signer",
    "canonical",
    "canonical_json",
    "chain_hashes",
    "chain_step",
    "details_json",
    "export_row",
    "format_timestamp",
    "load_public_key",
    "seal_payload",
    "sign_manifest",
    "verify",
    "verify_chain",
    "verify_manifest",
]

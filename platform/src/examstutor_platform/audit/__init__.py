"""The audit log: events, their canonical form and hash chain, signatures, the writer.

- :mod:`~examstutor_platform.audit.events` — what an event holds (pseudonyms only);
- :mod:`~examstutor_platform.audit.canonical` — the exact bytes that are hashed (CONTRACT §6);
- :mod:`~examstutor_platform.audit.chain` — the daily hash chain and its verification;
- :mod:`~examstutor_platform.audit.signing` — Ed25519 seals and export manifests;
- :mod:`~examstutor_platform.audit.writer` — group-commit writes that callers await;
- :mod:`~examstutor_platform.audit.seal`, :mod:`~examstutor_platform.audit.export`,
  :mod:`~examstutor_platform.audit.verify` — the daily seal, the Parquet export and
  their verification (from the database, or offline from an exported day);
- :mod:`~examstutor_platform.audit.daily` — a day sealed and exported in one read.
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
from examstutor_platform.audit.daily import DayResult, seal_and_export_day
from examstutor_platform.audit.events import ACTIONS, COLUMNS, AuditEvent, AuditRecord
from examstutor_platform.audit.export import ExportError, ExportResult, export_day
from examstutor_platform.audit.seal import SealError, SealResult, seal_day
from examstutor_platform.audit.signing import (
    Signer,
    load_public_key,
    seal_payload,
    sign_manifest,
    verify,
    verify_manifest,
)
from examstutor_platform.audit.verify import VerifyResult, verify_days, verify_export
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
    "DayResult",
    "ExportError",
    "ExportResult",
    "SealError",
    "SealResult",
    "Signer",
    "VerifyResult",
    "canonical",
    "canonical_json",
    "chain_hashes",
    "chain_step",
    "details_json",
    "export_day",
    "export_row",
    "format_timestamp",
    "load_public_key",
    "seal_and_export_day",
    "seal_day",
    "seal_payload",
    "sign_manifest",
    "verify",
    "verify_chain",
    "verify_days",
    "verify_export",
    "verify_manifest",
]

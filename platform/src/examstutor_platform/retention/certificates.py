"""Deletion certificates, the durable per-batch progress they are built from, and the
plain audit INSERT that accompanies them.

A certificate (``deletion_certificates``, one per run id and category) states what a
run removed: kind (``retention``, ``anonymisation``, ``erasure``), category, policy
version, cutoff, counts per table and ``subjects_sha256``, the SHA-256 of the sorted,
newline-joined, distinct pseudonyms of the subjects affected (the SHA-256 of the empty
string when there are none). Anyone holding the pseudonym key can recompute it from a
list of student ids: :func:`subjects_digest`.

Progress ledger. A retention run commits batch by batch and may be killed between
any two statements, so what a batch did is recorded in the SAME transaction as the
batch itself: one ``retention_progress`` row per batch (category, attempt, batch
number), holding the run id, table, row count, cutoff and the batch's subjects that no
earlier batch of the same attempt named: student ids packed 16 bytes each in one
bytea (stored uncompressed: random ids do not compress), other subjects as
``kind:id``. Leaving those out loses nothing: an attempt's batches commit one after
the other on one connection, and a crash loses only the last commits (asynchronous
commit drops a tail of the WAL, never a commit before a durable one), so whenever an
entry is durable so are the earlier entries that named its other subjects. The
certificate is written from the sum (rows) and union (subjects) of all entries of the
run, and the entries are deleted, in one final transaction: a run killed at any point
and run again ends with exactly one certificate whose counts are the rows actually
processed by all its attempts. Entries of another run id (a run killed and never
resumed) are certified under their own run id by the next run of the category. The
ids are those the ``consents`` and ``dsr_requests`` rows carry too; they live only
until the run is certified.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention.subjects import split_ids

__all__ = [
    "ACTOR_PSEUDONYM",
    "ACTOR_ROLE",
    "Certificate",
    "CertificateKind",
    "ProgressEntry",
    "RunProgress",
    "certificate_by_id",
    "clear_progress",
    "find_certificate",
    "issue_certificate",
    "ordered_subjects_digest",
    "progress_entry",
    "record_batch",
    "subjects_digest",
    "take_progress",
]

CertificateKind = Literal["retention", "anonymisation", "erasure"]

#: who the pipelines' audit events name as actor
ACTOR_PSEUDONYM = "pipelines"
ACTOR_ROLE = "system"

_Q = load_queries("examstutor_platform.retention", "engine.sql")


def subjects_digest(pseudonyms: Iterable[str]) -> str:
    """SHA-256 hex of the distinct ``pseudonyms``, sorted and joined by newlines."""
    return ordered_subjects_digest(sorted(set(pseudonyms)))


def ordered_subjects_digest(ordered: Sequence[str]) -> str:
    """:func:`subjects_digest` of pseudonyms that are already distinct and sorted."""
    return hashlib.sha256("\n".join(ordered).encode("utf-8")).hexdigest()


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A row of ``deletion_certificates``."""

    id: UUID
    run_id: str
    kind: str
    category: str
    policy_version: str
    cutoff: datetime | None
    counts: Mapping[str, Any]
    subjects_sha256: str
    issued_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Certificate:
        """The certificate of a row selected by ``find_certificate``/``certificate_by_id``."""
        return cls(
            row["id"],
            row["run_id"],
            row["kind"],
            row["category"],
            row["policy_version"],
            row["cutoff"],
            json.loads(row["counts"]),
            row["subjects_sha256"],
            row["issued_at"],
        )


async def find_certificate(conn: DbConnection, run_id: str, category: str) -> Certificate | None:
    """The certificate of ``run_id`` for ``category``, if one was issued."""
    row = await conn.fetchrow(_Q["find_certificate"], run_id, category)
    return None if row is None else Certificate.from_row(row)


async def certificate_by_id(conn: DbConnection, certificate_id: UUID) -> Certificate | None:
    """The certificate with this id, or None."""
    row = await conn.fetchrow(_Q["certificate_by_id"], certificate_id)
    return None if row is None else Certificate.from_row(row)


async def issue_certificate(
    conn: DbConnection,
    *,
    run_id: str,
    kind: CertificateKind,
    category: str,
    policy_version: str,
    cutoff: datetime | None,
    counts: Mapping[str, Any],
    subjects_sha256: str,
) -> tuple[Certificate, bool]:
    """Insert the certificate unless ``(run_id, category)`` has one; return it and whether
    this call created it."""
    created = await conn.fetchval(
        _Q["insert_certificate"],
        run_id,
        kind,
        category,
        policy_version,
        cutoff,
        _dumps(dict(counts)),
        subjects_sha256,
    )
    certificate = await find_certificate(conn, run_id, category)
    if certificate is None:  # pragma: no cover - the row was inserted or existed just now
        raise LookupError(f"no certificate for run {run_id!r}, category {category!r}")
    return certificate, created is not None


@dataclass
class RunProgress:
    """What the committed batches of one run id did, summed over its attempts: rows per
    table and the subjects affected (16-byte student ids, ``kind:id`` for others)."""

    run_id: str
    rows: dict[str, int] = field(default_factory=dict)
    students: set[bytes] = field(default_factory=set)
    others: set[str] = field(default_factory=set)
    cutoff: datetime | None = None
    batches: int = 0


#: one batch's progress entry: the arguments of ``insert_progress``
ProgressEntry = tuple[str, str, int, str, str, int, datetime, bytes, list[str]]


def progress_entry(
    *,
    category: str,
    run_id: str,
    attempt: str,
    batch: int,
    table: str,
    rows: int,
    students: bytes,
    others: Iterable[str],
    cutoff: datetime,
) -> ProgressEntry:
    """One batch's progress entry: its rows and the subjects new to its attempt
    (``students`` packed 16 bytes each)."""
    return (category, attempt, batch, run_id, table, rows, cutoff, students, list(others))


async def record_batch(conn: DbConnection, entry: ProgressEntry) -> None:
    """Record one batch (its :func:`progress_entry`); call in the batch's own
    transaction."""
    await conn.execute(_Q["insert_progress"], *entry)


async def take_progress(
    conn: DbConnection, category: str, *, known_attempt: str | None = None
) -> dict[str, RunProgress]:
    """Every run's progress for ``category``, by run id; locks the entries (call in the
    transaction that certifies them and then :func:`clear_progress`). The subjects of
    ``known_attempt``'s entries stay in the database: the caller holds them already."""
    runs: dict[str, RunProgress] = {}
    for row in await conn.fetch(_Q["progress_entries"], category, known_attempt):
        run = runs.setdefault(row["run_id"], RunProgress(row["run_id"]))
        run.rows[row["table_name"]] = run.rows.get(row["table_name"], 0) + row["row_count"]
        if row["students"] is not None:  # not an entry of known_attempt
            run.students.update(split_ids(row["students"]))
            run.others.update(row["others"])
        cutoff = row["cutoff"]
        run.cutoff = cutoff if run.cutoff is None else max(run.cutoff, cutoff)
        run.batches += 1
    return runs


async def clear_progress(conn: DbConnection, category: str) -> None:
    """Delete the progress entries of ``category`` (after certifying them)."""
    await conn.execute(_Q["delete_progress"], category)

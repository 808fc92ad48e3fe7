"""Erasure of one data subject: one ``dsr_requests`` row of type ``erasure``.

:func:`erase_subject` is what ``erasure_job`` runs for the request the sensor found
(:func:`pending_erasure_work`):

1. In one transaction the request is locked and checked. Under an active legal hold —
   on the student, or on any category whose tables the erasure changes
   (:func:`erasure_categories`: a hold preserves that data) — it ends ``on_hold`` with
   the hold's reason, and nothing is erased. Otherwise it becomes ``in_progress``.
2. In ONE further transaction (a student's rows are few; all or nothing makes a
   killed run trivially resumable and the counts exact) the holds are checked again,
   then: login attempts under the student's email blind index, credentials, sessions
   (every token is revoked: a token needs its session row), guardian-consent tokens,
   outbox messages naming the student, temp files owned by them are deleted;
   questions lose student, body and key; practice sessions lose the student; the
   student row loses every personal column, the blind index, the key version and the
   age band, and becomes ``erased``. The deletion certificate (kind and category
   ``erasure``), the request's completion and the ``ndpr.erasure_completed`` audit
   event commit with it.

Kept on purpose: the consent ledger (append-only; it names the student by id only,
as proof of the lawful basis of past processing), the request itself (proof of the
erasure), audit events (pseudonyms only) and practice answers (they name no one).
Afterwards no table holds the student's plaintext or a ciphertext bound to them, and
they cannot log in (no credentials, no email index).

Re-running a completed request returns its result and does nothing. Runs of the same
request are serialised by an advisory lock; the connection must not be in a
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.audit.store import append_event
from examstutor_platform.crypto import Pseudonymiser
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import PlatformError
from examstutor_platform.retention import certificates as certs
from examstutor_platform.retention.holds import LegalHold, category_hold, student_hold
from examstutor_platform.retention.policy import RetentionPolicy, load_policy
from examstutor_platform.retention.session import DB_ERRORS, Target, connection_for, exclusive
from examstutor_platform.retention.tables import RetentionError
from examstutor_platform.settings import Settings

__all__ = [
    "ERASURE_TABLES",
    "ErasureError",
    "ErasureProgress",
    "ErasureResult",
    "OpenRequest",
    "PendingErasure",
    "erase_subject",
    "erasure_categories",
    "overdue_requests",
    "pending_erasure_work",
]

_Q = load_queries("examstutor_platform.erasure", "erasure.sql")

#: the tables an erasure deletes from or rewrites
ERASURE_TABLES: Final = (
    "login_attempts",
    "credentials",
    "auth_sessions",
    "guardian_consent_tokens",
    "outbox",
    "temp_files",
    "questions",
    "practice_sessions",
    "students",
)

#: called with each stage reached: ``started`` (the request is in_progress), ``applied``
#: (inside the final transaction, after the changes, before the commit), ``completed``
ErasureProgress = Callable[[str], None]


class ErasureError(PlatformError):
    """An erasure request cannot be carried out as asked (unknown, not an erasure,
    rejected, or its run id already certified another request)."""


@dataclass(frozen=True)
class ErasureResult:
    """The outcome of one erasure request; :meth:`metadata` for Dagster."""

    request_id: uuid.UUID
    student_pseudonym: str
    status: str
    counts: Mapping[str, int] = field(default_factory=dict)
    certificate_id: uuid.UUID | None = None
    subjects_sha256: str | None = None
    hold: LegalHold | None = None
    hold_reason: str | None = None
    already_done: bool = False

    def metadata(self) -> dict[str, Any]:
        """Plain values (counts and the pseudonym, never PII)."""
        return {
            "request_id": str(self.request_id),
            "student_pseudonym": self.student_pseudonym,
            "status": self.status,
            "rows_by_table": dict(self.counts),
            "certificate_id": None if self.certificate_id is None else str(self.certificate_id),
            "subjects_sha256": self.subjects_sha256,
            "hold_reason": self.hold_reason,
            "already_done": self.already_done,
        }


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """A data-subject request not yet answered."""

    id: uuid.UUID
    student_id: uuid.UUID
    type: str
    status: str
    received_at: datetime
    due_at: datetime


def erasure_categories(policy: RetentionPolicy) -> tuple[str, ...]:
    """Categories whose tables an erasure changes: a hold on any of them holds erasures."""
    return tuple(
        name
        for name, category in policy.categories.items()
        if any(table.name in ERASURE_TABLES for table in category.tables)
    )


async def _hold(
    conn: DbConnection, student_id: uuid.UUID, categories: tuple[str, ...]
) -> LegalHold | None:
    return await student_hold(conn, student_id) or await category_hold(conn, categories)


async def erase_subject(
    target: Target,
    settings: Settings,
    request_id: uuid.UUID,
    run_id: str,
    *,
    policy: RetentionPolicy | None = None,
    progress: ErasureProgress | None = None,
    lock_wait: float = 60.0,
) -> ErasureResult:
    """Carry out erasure request ``request_id`` (see the module docstring)."""
    policy = policy or load_policy()
    report = progress or (lambda stage: None)
    try:
        async with (
            connection_for(target) as conn,
            exclusive(conn, f"examstutor:erasure:{request_id}", lock_wait),
        ):
            eraser = _Eraser(conn, settings, policy, request_id, run_id)
            async with conn.transaction():
                outcome = await eraser.admit()
            if outcome is not None:
                return outcome
            report("started")
            async with conn.transaction():
                outcome = await eraser.admit()
                if outcome is None:
                    outcome = await eraser.erase(report)
            if outcome.status == "completed" and not outcome.already_done:
                report("completed")
            return outcome
    except RetentionError as exc:  # the lock is busy, or a transaction was open
        raise ErasureError(str(exc)) from exc
    except DB_ERRORS as exc:
        raise ErasureError(
            f"erasure request {request_id} stopped ({type(exc).__name__}: {exc}); nothing "
            "of it is half done: run it again to finish it"
        ) from exc


class _Eraser:
    """The two transactions of :func:`erase_subject`."""

    def __init__(
        self,
        conn: DbConnection,
        settings: Settings,
        policy: RetentionPolicy,
        request_id: uuid.UUID,
        run_id: str,
    ) -> None:
        self.conn = conn
        self.policy = policy
        self.request_id = request_id
        self.run_id = run_id
        self.pseudonymiser = Pseudonymiser(settings.pseudonym_key)
        self.categories = erasure_categories(policy)
        self.student_id: uuid.UUID | None = None

    @property
    def pseudonym(self) -> str:
        return self.pseudonymiser.pseudonym("student", str(self.student_id))

    async def admit(self) -> ErasureResult | None:
        """Lock and check the request; None when the erasure may go ahead (it is then
        ``in_progress``), else the result to return (done, or on hold)."""
        request = await self.conn.fetchrow(_Q["request_for_update"], self.request_id)
        if request is None:
            raise ErasureError(f"there is no data-subject request {self.request_id}")
        if request["type"] != "erasure":
            raise ErasureError(f"request {self.request_id} is a {request['type']} request")
        self.student_id = request["student_id"]
        status = request["status"]
        if status == "rejected":
            raise ErasureError(f"request {self.request_id} was rejected")
        if status == "completed":
            return await self._completed(request["certificate_id"])
        hold = await _hold(self.conn, request["student_id"], self.categories)
        if hold is not None:
            if status != "on_hold" or request["hold_reason"] != hold.reason:
                await self.conn.execute(_Q["put_on_hold"], self.request_id, hold.reason)
                await self._audit(
                    "ndpr.erasure_request",
                    "denied",
                    {
                        "request_id": str(self.request_id),
                        "status": "on_hold",
                        "hold_id": str(hold.id),
                    },
                )
            return ErasureResult(
                self.request_id, self.pseudonym, "on_hold", hold=hold, hold_reason=hold.reason
            )
        if status != "in_progress":
            await self.conn.execute(_Q["start_request"], self.request_id)
        return None

    async def erase(self, report: ErasureProgress) -> ErasureResult:
        """Erase the subject, certify, complete the request (in the caller's transaction)."""
        conn, student_id, pseudonym = self.conn, self.student_id, self.pseudonym
        email_index = await conn.fetchval(_Q["lock_student"], student_id)
        counts = {
            "login_attempts": 0
            if email_index is None
            else _rows(await conn.execute(_Q["delete_login_attempts"], email_index)),
            "credentials": _rows(await conn.execute(_Q["delete_credentials"], student_id)),
            "auth_sessions": _rows(await conn.execute(_Q["delete_auth_sessions"], student_id)),
            "guardian_consent_tokens": _rows(
                await conn.execute(_Q["delete_guardian_consent_tokens"], student_id)
            ),
            "outbox": _rows(await conn.execute(_Q["delete_outbox"], pseudonym, str(student_id))),
            "temp_files": _rows(await conn.execute(_Q["delete_temp_files"], pseudonym)),
            "questions": _rows(await conn.execute(_Q["anonymise_questions"], student_id)),
            "practice_sessions": _rows(
                await conn.execute(_Q["anonymise_practice_sessions"], student_id)
            ),
            "students": _rows(await conn.execute(_Q["erase_student"], student_id)),
        }
        report("applied")
        certificate, created = await certs.issue_certificate(
            conn,
            run_id=self.run_id,
            kind="erasure",
            category="erasure",
            policy_version=self.policy.version,
            cutoff=None,
            counts=counts,
            subjects_sha256=certs.subjects_digest([pseudonym]),
        )
        if not created:
            raise ErasureError(
                f"run id {self.run_id!r} already certified an erasure; give each request "
                "its own run id"
            )
        await conn.execute(_Q["complete_request"], self.request_id, certificate.id)
        await self._audit(
            "ndpr.erasure_completed",
            "success",
            {
                "request_id": str(self.request_id),
                "certificate_id": str(certificate.id),
                "counts": counts,
                "policy_version": self.policy.version,
            },
        )
        return ErasureResult(
            self.request_id,
            pseudonym,
            "completed",
            counts=counts,
            certificate_id=certificate.id,
            subjects_sha256=certificate.subjects_sha256,
        )

    async def _completed(self, certificate_id: uuid.UUID | None) -> ErasureResult:
        certificate = (
            None
            if certificate_id is None
            else await certs.certificate_by_id(self.conn, certificate_id)
        )
        return ErasureResult(
            self.request_id,
            self.pseudonym,
            "completed",
            counts={}
            if certificate is None
            else {k: int(v) for k, v in certificate.counts.items()},
            certificate_id=certificate_id,
            subjects_sha256=None if certificate is None else certificate.subjects_sha256,
            already_done=True,
        )

    async def _audit(self, action: str, outcome: str, details: dict[str, Any]) -> None:
        await append_event(
            self.conn,
            AuditEvent(
                actor_pseudonym=certs.ACTOR_PSEUDONYM,
                actor_role=certs.ACTOR_ROLE,
                action=action,
                resource="student",
                resource_id=self.pseudonym,
                outcome=outcome,
                request_id=self.run_id[:256],
                details={**details, "run_id": self.run_id},
            ),
        )


def _rows(status: str) -> int:
    """The row count of an ``UPDATE n`` / ``DELETE n`` command status."""
    return int(status.rsplit(" ", 1)[-1])


@dataclass(frozen=True, slots=True)
class PendingErasure:
    """An erasure request with work to do, and what state it was left in."""

    id: uuid.UUID
    status: str
    """``pending`` (never run), ``in_progress`` (a run stopped part-way) or ``on_hold``
    (every hold on it is released now)."""
    released: datetime | None
    """When the last hold that could cover it was released (None if none ever was)."""

    def run_key(self, runs: int = 0) -> str:
        """The key of its next run, given the ``runs`` it had: the request id while it is
        pending; once per release for an ``on_hold`` one (so a request held, released,
        held again and released again is run again); once per earlier run for an
        ``in_progress`` one (each of those runs ended and left it part-way)."""
        if self.status == "on_hold":
            when = "never" if self.released is None else self.released.isoformat()
            return f"{self.id}:released-{when}"
        if self.status == "in_progress":
            return f"{self.id}:resume-{runs}"
        return str(self.id)


async def pending_erasure_work(
    target: Target, *, policy: RetentionPolicy | None = None
) -> list[PendingErasure]:
    """Erasure requests with work to do, oldest first: pending, interrupted
    (``in_progress``), or ``on_hold`` with every hold that held them released."""
    categories = list(erasure_categories(policy or load_policy()))
    async with connection_for(target) as conn:
        rows = await conn.fetch(_Q["pending_requests"], categories)
    return [PendingErasure(row["id"], row["status"], row["released"]) for row in rows]


async def overdue_requests(target: Target, at: datetime) -> list[OpenRequest]:
    """Open requests (pending or in progress, any type) whose ``due_at`` is before ``at``."""
    async with connection_for(target) as conn:
        rows = await conn.fetch(_Q["overdue_requests"], at)
    return [
        OpenRequest(
            row["id"],
            row["student_id"],
            row["type"],
            row["status"],
            row["received_at"],
            row["due_at"],
        )
        for row in rows
    ]

"""The retention engine: expire one policy category — delete, anonymise or drop audit
partitions — honouring legal holds, in bounded batches, with a deletion certificate.

:func:`run_category` is what the ``retention_expiry`` and ``anonymised_records``
assets call, once per category (partition):

* ``preview=True`` changes nothing and reports per table how many rows would be
  deleted or anonymised and how many legal holds keep, with a few affected pseudonyms.
* Otherwise the category's tables are walked in batches of about ``batch_size`` rows
  past the cutoff (``clock < category.cutoff(at)``), each batch one transaction that
  also records its progress (:mod:`.certificates`); :mod:`.batches` says how a table
  is walked (by keyset, or by ranges of heap blocks when most of it is due). Batches
  commit asynchronously: a crash loses whole recent batches (rows and progress
  together), never one half; the certificate's transaction commits synchronously.
* A hold on the category skips it; a hold on a student skips that student's rows.
  Holds are read inside each batch statement (:mod:`.holds`).
* At the end one transaction writes the certificate (one per run id and category:
  re-running a certified run id changes nothing and returns the certificate), the
  ``ndpr.retention_expiry`` / ``ndpr.anonymisation`` audit event, and clears progress.
  The subjects it certifies are gathered batch by batch, each hashed once per attempt
  while the database works (:mod:`.subjects`).

One run per category at a time (:func:`.session.exclusive`, then
:class:`RetentionBusyError`); the connection must not be in a transaction. Audit
partitions: :mod:`.partitions`. :func:`expired_counts` backs the ``no_expired_rows``
check.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.audit.store import append_event
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import certificates as certs
from examstutor_platform.retention import partitions
from examstutor_platform.retention.batches import TableWalk, Walk, column_masker
from examstutor_platform.retention.holds import LegalHold, category_hold
from examstutor_platform.retention.policy import Category, RetentionPolicy, load_policy
from examstutor_platform.retention.results import (
    ProgressCallback,
    RetentionResult,
    result_from_certificate,
)
from examstutor_platform.retention.session import (
    DB_ERRORS,
    RetentionBusyError,
    Target,
    asynchronous_commits,
    connection_for,
    exclusive,
)
from examstutor_platform.retention.subjects import (
    SubjectLedger,
    SubjectPseudonyms,
    split_ids,
    subjects_of_rows,
)
from examstutor_platform.retention.tables import RetentionError, TablePlan, plan_table
from examstutor_platform.settings import Settings

__all__ = [
    "BATCH_SIZE",
    "RetentionBusyError",
    "RetentionError",
    "expired_counts",
    "run_category",
]

_Q = load_queries("examstutor_platform.retention", "engine.sql")
#: rows per batch by default: one transaction of some 10 ms on the bulk path
BATCH_SIZE = 20_000


def _sample_subjects(rows: list[Any]) -> tuple[set[bytes], list[str]]:
    students, others = subjects_of_rows(rows)
    return set(split_ids(students)), others


def _kind(category: Category) -> certs.CertificateKind:
    return "anonymisation" if category.action == "anonymise" else "retention"


def _audit_action(category: Category) -> str:
    return "ndpr.anonymisation" if category.action == "anonymise" else "ndpr.retention_expiry"


async def run_category(
    target: Target,
    settings: Settings,
    category_name: str,
    *,
    at: datetime,
    run_id: str,
    preview: bool = False,
    batch_size: int = BATCH_SIZE,
    audit: bool = True,
    policy: RetentionPolicy | None = None,
    progress: ProgressCallback | None = None,
    lock_wait: float = 60.0,
    bulk: bool | None = None,
) -> RetentionResult:
    """Expire ``category_name`` as of ``at`` (see the module docstring); ``audit=False``
    skips the audit event (the certificate is always written). ``bulk`` forces the
    block-range path of deletes on (True) or off (False); None decides per table
    (:mod:`.batches`)."""
    policy = policy or load_policy()
    category = policy.category(category_name)
    cutoff = category.cutoff(at)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    try:
        async with connection_for(target) as conn:
            if category.action == "drop_partition":
                return await partitions.drop_expired(
                    conn, policy, category, cutoff, run_id, preview, audit, lock_wait
                )
            if preview:
                return await _Run(conn, settings, policy, category, cutoff, run_id).preview()
            async with exclusive(conn, f"examstutor:retention:{category.name}", lock_wait):
                existing = await certs.find_certificate(conn, run_id, category.name)
                if existing is not None:
                    return result_from_certificate(existing, category, cutoff)
                run = _Run(conn, settings, policy, category, cutoff, run_id, batch_size, progress)
                return await run.execute(audit, bulk)
    except DB_ERRORS as exc:
        raise RetentionError(
            f"retention of {category_name!r} stopped ({type(exc).__name__}: {exc}); "
            "every committed batch is recorded: run it again with the same run id to resume"
        ) from exc


class _Run:
    """One invocation of :func:`run_category` for a delete or anonymise category."""

    def __init__(
        self,
        conn: DbConnection,
        settings: Settings,
        policy: RetentionPolicy,
        category: Category,
        cutoff: datetime,
        run_id: str,
        batch_size: int = 5000,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.policy = policy
        self.category = category
        self.cutoff = cutoff
        self.run_id = run_id
        self.batch_size = batch_size
        self.progress = progress
        self.hasher = SubjectPseudonyms(settings.pseudonym_key)

    async def plans(self) -> list[TablePlan]:
        cat = self.category
        return [await plan_table(self.conn, cat.name, cat.action, rule) for rule in cat.tables]

    async def counts(
        self, plans: list[TablePlan], hold: LegalHold | None
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Rows still due and rows held, per table."""
        due: dict[str, int] = {}
        held: dict[str, int] = {}
        for plan in plans:
            row = await self.conn.fetchrow(plan.render("count_expired"), self.cutoff)
            assert row is not None
            due[plan.name], held[plan.name] = row["due"], row["held"]
            if hold is not None:
                due[plan.name], held[plan.name] = 0, row["due"] + row["held"]
        return due, held

    async def preview(self) -> RetentionResult:
        plans = await self.plans()
        hold = await category_hold(self.conn, [self.category.name])
        due, held = await self.counts(plans, hold)
        sample: list[str] = []
        for plan in plans if hold is None else ():
            if not plan.has_subject or len(sample) >= 5:
                continue
            rows = await self.conn.fetch(plan.render("sample_subjects"), self.cutoff, 50)
            found = self.hasher.of(*_sample_subjects(rows))
            sample.extend(sorted(found - set(sample))[: 5 - len(sample)])
        return self._result(due, held, hold, preview=True, sample=tuple(sample))

    async def execute(self, audit: bool, bulk: bool | None) -> RetentionResult:
        plans = await self.plans()
        hold = await category_hold(self.conn, [self.category.name])
        ledger = SubjectLedger(self.hasher)
        walk = Walk(self.run_id, self.category.name, self.cutoff, uuid.uuid4().hex, ledger)
        async with asynchronous_commits(self.conn):
            for plan in plans if hold is None else ():
                masker = await column_masker(self.conn, plan, self.settings, self.cutoff.date())
                table = TableWalk(self.conn, plan, walk, self.batch_size, self.progress)
                await table.run(masker, bulk)
        if hold is None:
            held = {
                plan.name: await self.conn.fetchval(plan.render("count_held"), self.cutoff)
                for plan in plans
            }
        else:
            _, held = await self.counts(plans, hold)
        async with self.conn.transaction():
            await self.conn.execute(_Q["synchronous_commit"])
            runs = await certs.take_progress(
                self.conn, self.category.name, known_attempt=walk.attempt
            )
            mine = runs.pop(self.run_id, None) or certs.RunProgress(self.run_id)
            for other in runs.values():
                digest = certs.subjects_digest(self.hasher.of(other.students, other.others))
                await self._certify(other, digest, None, audit, adopted_by=self.run_id)
            # a resumed run: the subjects only its earlier attempts met, too
            students, others = ledger.unknown(mine.students, mine.others)
            subjects = len(ledger) + len(students) + len(others)
            if students or others:
                digest = certs.subjects_digest(ledger.pseudonyms | self.hasher.of(students, others))
            else:
                digest = ledger.digest()
            certificate = await self._certify(mine, digest, sum(held.values()), audit)
            await certs.clear_progress(self.conn, self.category.name)
        return self._result(
            {plan.name: mine.rows.get(plan.name, 0) for plan in plans},
            held,
            hold,
            preview=False,
            certificate=certificate,
            subjects=subjects,
            batches=walk.batches,
            resumed=mine.batches > walk.batches,
            adopted=tuple(sorted(runs)),
        )

    async def _certify(
        self,
        progress: certs.RunProgress,
        subjects_sha256: str,
        held: int | None,
        audit: bool,
        adopted_by: str | None = None,
    ) -> certs.Certificate:
        counts: dict[str, int] = {
            rule.name: progress.rows.get(rule.name, 0) for rule in self.category.tables
        }
        if held is not None:
            counts["held"] = held
        cutoff = self.cutoff if progress.cutoff is None else progress.cutoff
        if adopted_by is None:
            cutoff = max(cutoff, self.cutoff)
        certificate, created = await certs.issue_certificate(
            self.conn,
            run_id=progress.run_id,
            kind=_kind(self.category),
            category=self.category.name,
            policy_version=self.policy.version,
            cutoff=cutoff,
            counts=counts,
            subjects_sha256=subjects_sha256,
        )
        if created and audit:
            details: dict[str, Any] = {
                "run_id": progress.run_id,
                "cutoff": cutoff.isoformat(),
                "counts": counts,
                "certificate_id": str(certificate.id),
                "policy_version": self.policy.version,
            }
            if adopted_by is not None:
                details["completed_by_run"] = adopted_by
            await append_event(
                self.conn,
                AuditEvent(
                    actor_pseudonym=certs.ACTOR_PSEUDONYM,
                    actor_role=certs.ACTOR_ROLE,
                    action=_audit_action(self.category),
                    resource=self.category.name,
                    outcome="success",
                    request_id=progress.run_id[:256],
                    details=details,
                ),
            )
        return certificate

    def _result(
        self,
        processed: dict[str, int],
        held: dict[str, int],
        hold: LegalHold | None,
        *,
        preview: bool,
        sample: tuple[str, ...] = (),
        certificate: certs.Certificate | None = None,
        subjects: int = 0,
        batches: int = 0,
        resumed: bool = False,
        adopted: tuple[str, ...] = (),
    ) -> RetentionResult:
        return RetentionResult(
            category=self.category.name,
            action=self.category.action,
            run_id=self.run_id,
            policy_version=self.policy.version,
            cutoff=self.cutoff,
            preview=preview,
            processed=processed,
            held=held,
            held_total=sum(held.values()),
            category_hold=hold,
            certificate_id=None if certificate is None else certificate.id,
            subjects_sha256=None if certificate is None else certificate.subjects_sha256,
            subjects=subjects,
            sample=sample,
            batches=batches,
            resumed=resumed,
            adopted_runs=adopted,
        )


async def expired_counts(
    target: Target,
    settings: Settings,
    at: datetime,
    *,
    policy: RetentionPolicy | None = None,
) -> dict[str, int]:
    """Per category, the rows past retention at ``at`` that a run would still delete or
    anonymise (not held, not yet anonymised); audit_logs: rows of droppable partitions.
    Zero everywhere is what ``no_expired_rows`` asserts."""
    policy = policy or load_policy()
    counts: dict[str, int] = {}
    async with connection_for(target) as conn:
        for category in policy.categories.values():
            cutoff = category.cutoff(at)
            if category.action == "drop_partition":
                hold = await category_hold(conn, [category.name])
                counts[category.name] = 0 if hold else (await partitions.droppable(conn, cutoff))[1]
                continue
            run = _Run(conn, settings, policy, category, cutoff, "expired-counts")
            plans = await run.plans()
            due, _ = await run.counts(plans, await category_hold(conn, [category.name]))
            counts[category.name] = sum(due.values())
    return counts

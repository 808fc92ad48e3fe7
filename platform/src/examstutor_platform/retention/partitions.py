"""Audit log expiry (category ``audit_logs``, action ``drop_partition``) and upkeep.

``audit_events`` is append-only and partitioned by month, so it expires by whole
partitions: ``audit_drop_partitions_before`` (SECURITY DEFINER, migration 0002) drops
the partitions that end before the cutoff and never one that ends within the last
seven years, whatever cutoff it is given. The rows counted for the certificate are
those of the partitions it drops, counted in the same transaction. A partition
straddling the cutoff stays until it has aged out entirely.

The daily run also creates the coming months' partitions
(:func:`ensure_audit_partitions`), so that no audit INSERT ever lacks one.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.audit.store import append_event
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import certificates as certs
from examstutor_platform.retention.holds import LegalHold, category_hold
from examstutor_platform.retention.policy import Category, RetentionPolicy
from examstutor_platform.retention.results import RetentionResult, result_from_certificate
from examstutor_platform.retention.session import Target, connection_for, exclusive

__all__ = ["MONTHS_AHEAD", "drop_expired", "droppable", "ensure_audit_partitions"]

#: months of audit partitions the daily run keeps ready beyond the current one
MONTHS_AHEAD = 3

_Q = load_queries("examstutor_platform.retention", "engine.sql")


async def ensure_audit_partitions(target: Target, months_ahead: int = MONTHS_AHEAD) -> int:
    """Create the audit partitions of this month and the next ``months_ahead``; return
    how many were missing."""
    if not 0 <= months_ahead <= 120:
        raise ValueError("months_ahead must be from 0 to 120")
    async with connection_for(target) as conn:
        created: int = await conn.fetchval(_Q["ensure_partitions"], months_ahead)
        return created


async def droppable(conn: DbConnection, cutoff: datetime) -> tuple[list[str], int]:
    """The partitions a drop at ``cutoff`` would remove now, and their rows."""
    parts = await conn.fetch(_Q["droppable_partitions"], cutoff)
    if not parts:
        return [], 0
    rows: int = await conn.fetchval(_Q["count_audit_before"], parts[-1]["upper_bound"])
    return [part["name"] for part in parts], rows


async def drop_expired(
    conn: DbConnection,
    policy: RetentionPolicy,
    category: Category,
    cutoff: datetime,
    run_id: str,
    preview: bool,
    audit: bool,
    lock_wait: float,
) -> RetentionResult:
    """Preview or drop the expired audit partitions; certify and audit the drop."""
    table = category.tables[0].name

    def result(names: list[str], rows: int, hold: LegalHold | None) -> RetentionResult:
        held = hold is not None
        return RetentionResult(
            category=category.name,
            action=category.action,
            run_id=run_id,
            policy_version=policy.version,
            cutoff=cutoff,
            preview=preview,
            processed={table: 0 if held else rows},
            held={table: rows if held else 0},
            held_total=rows if held else 0,
            dropped_partitions=() if held else tuple(names),
            category_hold=hold,
        )

    if preview:
        hold = await category_hold(conn, [category.name])
        names, rows = await droppable(conn, cutoff)
        return result(names, rows, hold)
    async with exclusive(conn, f"examstutor:retention:{category.name}", lock_wait):
        existing = await certs.find_certificate(conn, run_id, category.name)
        if existing is not None:
            return result_from_certificate(existing, category, cutoff)
        created = await ensure_audit_partitions(conn)
        async with conn.transaction():
            hold = await category_hold(conn, [category.name])
            names, rows = await droppable(conn, cutoff)
            if hold is None and names:
                dropped = [r["name"] for r in await conn.fetch(_Q["drop_partitions"], cutoff)]
                if sorted(dropped) != sorted(names):  # pragma: no cover - same query, same now()
                    raise RuntimeError(f"dropped {dropped}, expected {names}")
            counts = {
                table: 0 if hold else rows,
                "partitions": 0 if hold else len(names),
                "held": rows if hold else 0,
            }
            certificate, issued = await certs.issue_certificate(
                conn,
                run_id=run_id,
                kind="retention",
                category=category.name,
                policy_version=policy.version,
                cutoff=cutoff,
                counts=counts,
                subjects_sha256=certs.subjects_digest(()),
            )
            if issued and audit:
                await append_event(
                    conn,
                    AuditEvent(
                        actor_pseudonym=certs.ACTOR_PSEUDONYM,
                        actor_role=certs.ACTOR_ROLE,
                        action="ndpr.retention_expiry",
                        resource=category.name,
                        outcome="success",
                        request_id=run_id[:256],
                        details={
                            "run_id": run_id,
                            "cutoff": cutoff.isoformat(),
                            "counts": counts,
                            "dropped_partitions": [] if hold else names,
                            "certificate_id": str(certificate.id),
                            "policy_version": policy.version,
                        },
                    ),
                )
        return replace(
            result(names, rows, hold),
            certificate_id=certificate.id,
            subjects_sha256=certificate.subjects_sha256,
            partitions_created=created,
        )

"""Appending one audit event inside the caller's transaction.

The API goes through the group-commit :class:`~examstutor_platform.audit.writer.AuditWriter`;
batch jobs and command-line tools record their event in the same transaction
as the work it describes, so the two commit or roll back together.
"""

from __future__ import annotations

from examstutor_platform.audit.canonical import details_json
from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries

__all__ = ["SYSTEM_ACTOR", "append_event"]

_Q = load_queries("examstutor_platform.audit", "store.sql")
#: the actor of scheduled work: (pseudonym, role)
SYSTEM_ACTOR = ("system:pipelines", "system")


async def append_event(conn: DbConnection, event: AuditEvent) -> None:
    """INSERT ``event`` over ``conn`` (seq and occurred_at are the database's).

    ``details`` travels as JSON text, so any connection works, with or without the
    platform's jsonb codec."""
    *fields, details = event.as_row()
    await conn.execute(_Q["append_event"], *fields, details_json(details))

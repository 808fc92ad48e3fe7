"""Legal holds: lookups of the active holds (``legal_holds`` rows not released).

A hold names either a student or a data category (``CHECK`` in the schema). A
category hold stops retention of that whole category; a student hold stops
retention of that student's rows and any erasure of the student. Stewards place
and release holds through the API; the pipelines only read them.

The retention batches test holds inside each batch statement (``engine.sql``),
so a hold committed before a batch starts is honoured by that batch; the
lookups here serve previews, results and erasure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries

__all__ = ["LegalHold", "active_holds", "category_hold", "student_hold"]

_Q = load_queries("examstutor_platform.retention", "engine.sql")


@dataclass(frozen=True, slots=True)
class LegalHold:
    """An active legal hold on a student or on a data category."""

    id: UUID
    student_id: UUID | None
    category: str | None
    reason: str
    placed_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> LegalHold:
        """The hold of a ``legal_holds`` row."""
        return cls(row["id"], row["student_id"], row["category"], row["reason"], row["placed_at"])


async def category_hold(conn: DbConnection, categories: Iterable[str]) -> LegalHold | None:
    """The oldest active hold on any of ``categories``, or None."""
    row = await conn.fetchrow(_Q["category_hold"], list(categories))
    return None if row is None else LegalHold.from_row(row)


async def student_hold(conn: DbConnection, student_id: UUID) -> LegalHold | None:
    """The oldest active hold on the student, or None."""
    row = await conn.fetchrow(_Q["student_hold"], student_id)
    return None if row is None else LegalHold.from_row(row)


async def active_holds(conn: DbConnection) -> list[LegalHold]:
    """Every active hold, oldest first."""
    return [LegalHold.from_row(row) for row in await conn.fetch(_Q["active_holds"])]

"""What the retention engine knows about one policy table: the catalog checks, the keyset
it walks, and the SQL of ``engine.sql`` rendered for it.

Batches walk a keyset so that no batch rescans what earlier ones passed: the clock
column when an index leads with it (``ORDER BY clock``, next batch ``clock >= last``),
else a one-column primary key (``id > last``, one pass over its index; e.g.
``login_attempts``, whose clock is indexed only behind other columns).

A row's subject (for student holds and the certificate) is the table's
``subject_column``; its pseudonym kind is the row's ``subject_kind`` where the table
has one (``auth_sessions``: students and staff), else ``student``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import PlatformError
from examstutor_platform.retention.policy import Action, TableRule

__all__ = ["RetentionError", "TablePlan", "plan_table", "quote"]

_Q = load_queries("examstutor_platform.retention", "engine.sql")
_CLOCK_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


class RetentionError(PlatformError):
    """A retention run cannot proceed: a policy table does not fit the schema, another
    run holds the category, or the database failed mid-run (run it again to resume)."""


def quote(identifier: str) -> str:
    """``identifier`` as a double-quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class TablePlan:
    """One table of a category, checked against the catalog, with its SQL parts."""

    rule: TableRule
    category: str
    action: Action
    columns: Mapping[str, str]
    key: str
    parts: Mapping[str, str]
    bookkeeping: str
    subject_indexed: bool = False
    """The subject column leads an index (held rows can be found through it)."""

    @property
    def name(self) -> str:
        """The table's name."""
        return self.rule.name

    @property
    def has_subject(self) -> bool:
        """True when rows name a subject (student holds apply)."""
        return self.rule.subject_column is not None

    @property
    def needs_python(self) -> bool:
        """True when a masking strategy other than ``null`` must run in Python."""
        return any(rule.strategy != "null" for rule in self.rule.columns)

    def render(self, query: str, *, after: bool = False, **extra: str) -> str:
        """The named template of ``engine.sql`` for this table; ``after`` adds the keyset
        condition on ``$4``."""
        parts = {**self.parts, "after": self.parts["after"] if after else "", **extra}
        return _Q[query].format(**parts)

    def null_sets(self) -> str:
        """``SET`` list of the null-only anonymisation: masked columns and bookkeeping."""
        sets = [f"{quote(rule.column)} = NULL" for rule in self.rule.columns]
        return ", ".join([*sets, self.bookkeeping] if self.bookkeeping else sets)


def _fail(category: str, table: str, message: str) -> RetentionError:
    return RetentionError(f"retention category {category!r}, table {table!r}: {message}")


async def plan_table(
    conn: DbConnection, category: str, action: Action, rule: TableRule
) -> TablePlan:
    """Check ``rule`` against the live schema and build its plan."""
    rows = await conn.fetch(_Q["table_columns"], rule.name)
    columns = MappingProxyType({row["name"]: row["type"] for row in rows})
    if not columns:
        raise _fail(category, rule.name, "no such table")
    if columns.get(rule.clock) not in _CLOCK_TYPES:
        raise _fail(category, rule.name, f"clock {rule.clock!r} is not a timestamp column")
    subject = rule.subject_column
    if subject is not None and columns.get(subject) != "uuid":
        raise _fail(category, rule.name, f"subject column {subject!r} is not a uuid column")
    for masked in rule.columns:
        if masked.column not in columns:
            raise _fail(category, rule.name, f"masked column {masked.column!r} does not exist")

    indexed = {row["name"] for row in await conn.fetch(_Q["leading_index_columns"], rule.name)}
    primary = [row["name"] for row in await conn.fetch(_Q["primary_key_columns"], rule.name)]
    if rule.clock not in indexed and len(primary) == 1:
        key, strict = primary[0], True
    else:
        key, strict = rule.clock, False

    subject_sql = "NULL::uuid" if subject is None else f"c.{quote(subject)}"
    kind_sql = "c.subject_kind" if subject and "subject_kind" in columns else "'student'"
    free = "true" if subject is None else _Q["free_of_student_holds"].format(subject=subject_sql)
    pending, bookkeeping = "true", ""
    if action == "anonymise":
        if f"pending_{rule.name}" in _Q:
            pending = _Q[f"pending_{rule.name}"]
            bookkeeping = _Q[f"bookkeeping_{rule.name}"]
        elif "anonymised_at" in columns:
            pending, bookkeeping = "anonymised_at IS NULL", "anonymised_at = now()"
        else:
            raise _fail(
                category,
                rule.name,
                "cannot tell anonymised rows apart: give it an anonymised_at column "
                "(or pending_/bookkeeping_ fragments in engine.sql)",
            )
    parts = {
        "table": quote(rule.name),
        "clock": quote(rule.clock),
        "key": quote(key),
        "subject": subject_sql,
        "kind": kind_sql,
        "free": free,
        # neither the category nor the row's student under a hold ($2: the category)
        "unheld": f"{_Q['free_of_category_hold']} AND ({free})",
        # the same, the held rows known by ctid ($5; block ranges, see held_in_range)
        "unheld_by_ctid": f"{_Q['free_of_category_hold']} AND {_Q['except_held_rows']}",
        "pending": pending,
        "after": f"AND c.{quote(key)} {'>' if strict else '>='} $4",
    }
    return TablePlan(
        rule,
        category,
        action,
        columns,
        key,
        MappingProxyType(parts),
        bookkeeping,
        subject_indexed=subject is not None and subject in indexed,
    )

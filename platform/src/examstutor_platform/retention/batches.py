"""One table of a category, walked batch by batch: each batch one transaction that
deletes or anonymises up to ``batch_size`` due rows and records its progress.

Two ways through a table:

* keyset (the usual daily run, few rows due): the oldest due rows by the clock index
  (or the primary key, see :mod:`.tables`), picked by ``ORDER BY … LIMIT`` from
  where the previous batch stopped, changed by ctid, their subjects returned;
* block ranges (bulk, deletes only): when a quarter or more of a table of at least
  ten batches is past retention (the first run over years of history), the heap is
  cut into ranges of blocks holding about ``batch_size`` rows, and each range is one
  plain ``DELETE … WHERE ctid`` range (a TID range scan): the cost of one DELETE over
  the table, in pieces. A table whose rows name subjects first reads the range's
  subjects in the same REPEATABLE READ transaction. Ranges run to the table's size
  when the walk ends, so rows moved by a concurrent update are not missed.

Subjects travel as one bytea of 16-byte student ids (plus ``kind:id`` text for other
kinds of subject): a batch stores them as they come in its progress entry; once it has
committed, :class:`SubjectLedger` hashes the ones new to this attempt.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import asyncpg

from examstutor_platform.crypto import DataKeyStore, FieldCipher, Pseudonymiser
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import certificates as certs
from examstutor_platform.retention.column_masks import ColumnMasker
from examstutor_platform.retention.results import BatchProgress, ProgressCallback
from examstutor_platform.retention.tables import RetentionError, TablePlan
from examstutor_platform.settings import Settings

__all__ = [
    "BULK_FRACTION",
    "SubjectLedger",
    "TableWalk",
    "Walk",
    "column_masker",
    "pseudonyms_of",
    "split_ids",
    "subjects_of_rows",
]

_Q = load_queries("examstutor_platform.retention", "engine.sql")
_UUID_BYTES = 16
_RETRIES = 5
#: the bulk path is taken when at least 1/BULK_FRACTION of the table is due
BULK_FRACTION = 4


def split_ids(blob: bytes | None) -> set[bytes]:
    """The 16-byte ids packed in ``blob``."""
    if not blob:
        return set()
    return {blob[i : i + _UUID_BYTES] for i in range(0, len(blob), _UUID_BYTES)}


def subjects_of_rows(rows: Iterable[Any]) -> tuple[bytes, list[str]]:
    """Packed student ids and ``kind:id`` others of rows with ``subject`` and ``kind``."""
    students: list[bytes] = []
    others: list[str] = []
    for row in rows:
        if row["subject"] is None:
            continue
        if row["kind"] == "student":
            students.append(row["subject"].bytes)
        else:
            others.append(f"{row['kind']}:{row['subject']}")
    return b"".join(students), others


def pseudonyms_of(
    pseudonymiser: Pseudonymiser, students: Iterable[bytes], others: Iterable[str]
) -> set[str]:
    """The pseudonyms of these subjects (student ids as the canonical text of a UUID)."""
    pseudonym = pseudonymiser.pseudonym
    found = set()
    for raw in students:
        h = raw.hex()
        found.add(pseudonym("student", f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"))
    found.update(pseudonym(*other.split(":", 1)) for other in others)
    return found


class SubjectLedger:
    """The subjects of this attempt's committed batches, and their pseudonyms (each
    subject hashed once per attempt)."""

    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        self.pseudonymiser = pseudonymiser
        self.students: set[bytes] = set()
        self.others: set[str] = set()
        self.pseudonyms: set[str] = set()

    def add(self, blob: bytes | None, others: Iterable[str]) -> None:
        """Take a committed batch's subjects."""
        students = split_ids(blob) - self.students
        fresh = set(others) - self.others
        self.students |= students
        self.others |= fresh
        self.pseudonyms |= pseudonyms_of(self.pseudonymiser, students, fresh)


@dataclass
class _Batch:
    """What one batch did, and where the next one starts (``None``: the walk is over)."""

    rows: int
    students: bytes | None = None
    others: list[str] = field(default_factory=list)
    resume: object = None


@dataclass
class Walk:
    """What the tables of one invocation share: run, attempt, ledger, batch count."""

    run_id: str
    category: str
    cutoff: datetime
    attempt: str
    ledger: SubjectLedger
    batches: int = 0


class TableWalk:
    """Deletes or anonymises every due row of one table, batch by batch."""

    def __init__(
        self,
        conn: DbConnection,
        plan: TablePlan,
        walk: Walk,
        batch_size: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.conn = conn
        self.plan = plan
        self.walk = walk
        self.batch_size = batch_size
        self.progress = progress
        self.masker: ColumnMasker | None = None
        self.blocks_per_batch = 0
        self.blocks = 0

    async def run(self, masker: ColumnMasker | None, bulk: bool | None = None) -> None:
        """Walk the table to the end; ``bulk`` forces the block-range path on or off."""
        self.masker = masker
        if masker is None and self.plan.action == "delete" and bulk is not False:
            await self._choose_bulk(bulk)
        state: object = 0 if self.blocks_per_batch else None
        table_rows = 0
        while True:
            batch = await self._batch(state)
            if batch.rows:
                self.walk.ledger.add(batch.students, batch.others)
                self.walk.batches += 1
                table_rows += batch.rows
                if self.progress is not None:
                    self.progress(
                        BatchProgress(
                            self.walk.category,
                            self.plan.name,
                            self.walk.batches,
                            batch.rows,
                            table_rows,
                        )
                    )
            if batch.resume is None:
                return
            state = batch.resume

    async def _batch(self, state: object) -> _Batch:
        """One batch and its progress entry, in one transaction (re-run on a
        serialization failure of the block path)."""
        walk = self.walk
        blocks = bool(self.blocks_per_batch)
        isolation: Literal["repeatable_read"] | None = (
            "repeatable_read" if blocks and self.plan.has_subject else None
        )
        for attempt in range(_RETRIES):
            try:
                async with self.conn.transaction(isolation=isolation):
                    await self.conn.execute(_Q["asynchronous_commit"])
                    batch = await (self._block_batch(state) if blocks else self._keyset(state))
                    if batch.rows:
                        await certs.record_batch(
                            self.conn,
                            category=walk.category,
                            run_id=walk.run_id,
                            attempt=walk.attempt,
                            batch=walk.batches,
                            table=self.plan.name,
                            rows=batch.rows,
                            students=batch.students or b"",
                            others=batch.others,
                            cutoff=walk.cutoff,
                        )
                return batch
            except asyncpg.SerializationError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _choose_bulk(self, bulk: bool | None) -> None:
        plan = self.plan
        size = await self.conn.fetchrow(_Q["table_size"], plan.name)
        tuples, self.blocks = (int(size["tuples"]), int(size["blocks"])) if size else (0, 0)
        if bulk is None:
            if tuples < 10 * self.batch_size or not self.blocks:
                return
            limit = tuples // BULK_FRACTION
            if await self.conn.fetchval(plan.render("bulk_probe"), self.walk.cutoff, limit) < limit:
                return
        elif not tuples:  # forced, on a table never analysed: count it
            tuples = await self.conn.fetchval(plan.render("count_rows"))
        self.blocks_per_batch = max(1, math.ceil(self.batch_size * self.blocks / max(tuples, 1)))

    async def _block_batch(self, state: object) -> _Batch:
        start = int(state)  # type: ignore[call-overload]
        end = start + self.blocks_per_batch
        args = (self.walk.cutoff, self.walk.category, (start, 0), (end, 0))
        batch = _Batch(0)
        if self.plan.has_subject:
            row = await self.conn.fetchrow(self.plan.render("select_block_range"), *args)
            assert row is not None
            batch = _Batch(row["rows"], row["students"], row["others"] or [])
        status = await self.conn.execute(self.plan.render("delete_block_range"), *args)
        deleted = int(status.rsplit(" ", 1)[-1])
        if self.plan.has_subject and deleted != batch.rows:  # pragma: no cover - one snapshot
            raise RetentionError(f"{self.plan.name}: read {batch.rows} rows, deleted {deleted}")
        batch.rows = deleted
        if end >= self.blocks:  # the table may have grown meanwhile: go on to its end
            size = await self.conn.fetchrow(_Q["table_size"], self.plan.name)
            self.blocks = int(size["blocks"]) if size else 0
        batch.resume = end if end < self.blocks else None
        return batch

    async def _keyset(self, last_key: object) -> _Batch:
        plan, walk = self.plan, self.walk
        after = last_key is not None
        args: list[object] = [walk.cutoff, walk.category, self.batch_size]
        if after:
            args.append(last_key)
        if self.masker is not None:
            masker = self.masker
            query = plan.render("anonymise_pick", after=after, columns=masker.select_list())
            picked = await self.conn.fetch(query, *args)
            if picked:
                await self.conn.executemany(
                    plan.render("anonymise_row", sets=masker.sets()),
                    [masker.row_arguments(row) for row in picked],
                )
            students, others = subjects_of_rows(picked)
            more = len(picked) >= self.batch_size
            return _Batch(len(picked), students, others, picked[-1]["key"] if more else None)
        if plan.action == "delete":
            query = plan.render("delete_batch", after=after)
        else:
            query = plan.render("anonymise_batch", after=after, sets=plan.null_sets())
        row = await self.conn.fetchrow(query, *args)
        assert row is not None
        more = row["picked"] >= self.batch_size
        return _Batch(
            row["rows"], row["students"], row["others"] or [], row["last_key"] if more else None
        )


async def column_masker(
    conn: DbConnection, plan: TablePlan, settings: Settings, today: date
) -> ColumnMasker | None:
    """The Python masker of a table whose policy names strategies other than null."""
    if not plan.needs_python:
        return None
    cipher = None
    if any(r.column.endswith("_enc") for r in plan.rule.columns if r.strategy != "null"):
        cipher = FieldCipher(await DataKeyStore().load(conn, settings.keks))
    return ColumnMasker(plan, settings, cipher, today)

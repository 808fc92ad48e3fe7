"""One table of a category, walked batch by batch: each batch one transaction that
deletes or anonymises up to ``batch_size`` due rows and records its progress.

Two ways through a table:

* keyset (the usual daily run, few rows due): the oldest due rows by the clock index
  (or the primary key, see :mod:`.tables`), picked by ``ORDER BY … LIMIT`` from
  where the previous batch stopped, changed by ctid, their subjects returned;
* block ranges (bulk, deletes only): when a quarter or more of a table of at least
  ten batches is past retention by the planner's estimate (the first run over years
  of history; statistics that are off only cost speed, never rows), the heap is
  cut into ranges of blocks holding about ``batch_size`` rows, and each range is one
  plain ``DELETE … WHERE ctid`` range (a TID range scan): the cost of one DELETE over
  the table, in pieces. A table whose rows name subjects first reads the range's
  subjects in the same REPEATABLE READ transaction; where the subject leads an
  index, a first statement finds the range's rows of held students through it, and
  when they are few (``HELD_BY_CTID``) the SELECT and DELETE leave them out by ctid
  instead of looking each row's student up in the holds. Ranges run to the table's
  size when the walk ends, so rows moved by a concurrent update are not missed.

A batch's progress entry records only the subjects new to the attempt
(:class:`.subjects.SubjectLedger`; they join the ledger once the batch has committed),
and the attempt hashes each subject once. That hashing, and sorting out a block range's
new subjects, run while the database works on the batch's statements
(:meth:`TableWalk._meanwhile`): the client's CPU work overlaps the server's instead of
adding to it.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, TypeVar

import asyncpg

from examstutor_platform.crypto import DataKeyStore, FieldCipher
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import certificates as certs
from examstutor_platform.retention.column_masks import ColumnMasker
from examstutor_platform.retention.results import BatchProgress, ProgressCallback
from examstutor_platform.retention.subjects import SubjectLedger, subjects_of_rows
from examstutor_platform.retention.tables import RetentionError, TablePlan
from examstutor_platform.settings import Settings

__all__ = ["BULK_FRACTION", "HASH_SLICE", "TableWalk", "Walk", "column_masker"]

_Q = load_queries("examstutor_platform.retention", "engine.sql")
_RETRIES = 5
#: student ids hashed per turn while a statement runs (about 0.15 ms)
HASH_SLICE = 64
_T = TypeVar("_T")
#: the bulk path is taken when at least 1/BULK_FRACTION of the table is due
BULK_FRACTION = 4
#: a range with at most this many held rows leaves them out by ctid (a short list
#: each row is compared with); with more, each row's student is looked up in the holds
HELD_BY_CTID = 32


@dataclass
class _Batch:
    """What one batch did, and where the next one starts (``None``: the walk is over)."""

    rows: int
    students: bytes | None = None
    others: list[str] = field(default_factory=list)
    resume: object = None
    fresh: tuple[set[bytes], set[str]] | None = None
    """The subjects new to the attempt (:meth:`SubjectLedger.fresh`), once known."""
    entry: certs.ProgressEntry | None = None
    """Its progress entry (:func:`.certificates.progress_entry`), once built."""


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
                assert batch.fresh is not None
                self.walk.ledger.add(*batch.fresh)
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
        blocks = bool(self.blocks_per_batch)
        isolation: Literal["repeatable_read"] | None = (
            "repeatable_read" if blocks and self.plan.has_subject else None
        )
        for attempt in range(_RETRIES):
            try:
                async with self.conn.transaction(isolation=isolation):
                    batch = await (self._block_batch(state) if blocks else self._keyset(state))
                    if batch.rows:
                        entry = batch.entry or self._entry(batch)
                        await self._meanwhile(certs.record_batch(self.conn, entry))
                return batch
            except asyncpg.SerializationError:
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _entry(self, batch: _Batch) -> certs.ProgressEntry:
        """The batch's progress entry (its subjects sorted out first, if need be)."""
        walk = self.walk
        if batch.fresh is None:
            batch.fresh = walk.ledger.fresh(batch.students, batch.others)
        students, others = batch.fresh
        return certs.progress_entry(
            category=walk.category,
            run_id=walk.run_id,
            attempt=walk.attempt,
            batch=walk.batches,
            table=self.plan.name,
            rows=batch.rows,
            students=b"".join(students),
            others=sorted(others),
            cutoff=walk.cutoff,
        )

    async def _meanwhile(
        self, statement: Awaitable[_T], work: Callable[[], object] | None = None
    ) -> _T:
        """Await ``statement`` (one database call); while the server runs it, do
        ``work`` and then the ledger's waiting work, a slice per turn of the event loop.
        Nothing else uses the connection meanwhile."""
        task = asyncio.ensure_future(statement)
        ledger = self.walk.ledger
        try:
            await asyncio.sleep(0)  # the task sends the statement
            if work is not None:
                work()
            while not task.done():
                if not ledger.busywork(HASH_SLICE):
                    break
                await asyncio.sleep(0)
        except BaseException:
            task.cancel()
            await asyncio.wait([task])  # the connection is free (or broken) before raising
            raise
        return await task

    async def _choose_bulk(self, bulk: bool | None) -> None:
        plan = self.plan
        size = await self.conn.fetchrow(_Q["table_size"], plan.name)
        tuples, self.blocks = (int(size["tuples"]), int(size["blocks"])) if size else (0, 0)
        if bulk is None:
            if tuples < 10 * self.batch_size or not self.blocks:
                return
            [estimate] = json.loads(
                await self.conn.fetchval(plan.render("due_estimate"), self.walk.cutoff)
            )
            if estimate["Plan"]["Plan Rows"] < tuples // BULK_FRACTION:
                return
        elif not tuples:  # forced, on a table never analysed: count it
            tuples = await self.conn.fetchval(plan.render("count_rows"))
        self.blocks_per_batch = max(1, math.ceil(self.batch_size * self.blocks / max(tuples, 1)))

    async def _block_batch(self, state: object) -> _Batch:
        start = int(state)  # type: ignore[call-overload]
        end = start + self.blocks_per_batch
        args: tuple[object, ...] = (self.walk.cutoff, self.walk.category, (start, 0), (end, 0))
        unheld = "unheld"
        if self.plan.subject_indexed:  # the range's held rows, if few, left out by ctid
            held = await self.conn.fetchval(self.plan.render("held_in_range"), *args[2:])
            if len(held) <= HELD_BY_CTID:
                args, unheld = (*args, held), "unheld_by_ctid"
        select_sql, delete_sql = (
            self.plan.render(query, unheld=self.plan.parts[unheld])
            for query in ("select_block_range", "delete_block_range")
        )
        batch = _Batch(0)
        if self.plan.has_subject:
            row = await self._meanwhile(self.conn.fetchrow(select_sql, *args))
            assert row is not None
            batch = _Batch(row["rows"], row["students"], row["others"] or [])

        def sort_out_subjects() -> None:  # while the range is deleted (same rows)
            if batch.rows:
                batch.entry = self._entry(batch)

        status = await self._meanwhile(self.conn.execute(delete_sql, *args), sort_out_subjects)
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
            picked = await self._meanwhile(self.conn.fetch(query, *args))
            if picked:
                await self._meanwhile(
                    self.conn.executemany(
                        plan.render("anonymise_row", sets=masker.sets()),
                        [masker.row_arguments(row) for row in picked],
                    )
                )
            students, others = subjects_of_rows(picked)
            more = len(picked) >= self.batch_size
            return _Batch(len(picked), students, others, picked[-1]["key"] if more else None)
        if plan.action == "delete":
            query = plan.render("delete_batch", after=after)
        else:
            query = plan.render("anonymise_batch", after=after, sets=plan.null_sets())
        row = await self._meanwhile(self.conn.fetchrow(query, *args))
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

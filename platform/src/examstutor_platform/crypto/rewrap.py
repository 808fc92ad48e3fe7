"""Rewrapping field ciphertexts onto the primary data key, in checkpointed batches,
while the API keeps writing.

:func:`rewrap_fields` walks each table of :data:`ENCRYPTED_TABLES` in id order.
A batch is read without locks and re-encrypted in a worker thread while the next
one is read; then one of the writer connections writes it with one statement,
hence one transaction, that also advances ``rotation_checkpoints``. That
statement writes a row only if it is still the very row version that was read
(same ``ctid``, id and ``xmin``), and only while the target is still the primary
key, so a row the API rewrote in the meantime is never overwritten: passes go
on until no row is left off the key. Killed at any point, a run loses at most
the batches in flight; the next run resumes from the checkpoint, and each row
is rewrapped and counted once.

The API reloads its key ring every few seconds, so for a short while after a new
key becomes primary an API process may lack it: it could neither read a row
already rewrapped nor stop encrypting under the old key. A rewrap therefore
starts only once the key has been primary for ``settle_seconds``
(:data:`RING_SETTLE_SECONDS`); rows written under the old key until then are
rewrapped like the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import asyncpg

from examstutor_platform.crypto.encrypted_columns import ENCRYPTED_TABLES
from examstutor_platform.crypto.keyring import DataKeyStore
from examstutor_platform.crypto.reencrypt import BatchReencryptor, ciphertext_header, rewrap_rows
from examstutor_platform.crypto.rotation_queries import QUERIES, TABLE_QUERIES, TableQueries
from examstutor_platform.db.pool import DbConnection, connect
from examstutor_platform.errors import CryptoError, KeyUnavailableError
from examstutor_platform.settings import Settings

__all__ = [
    "LOCK_WAIT_SECONDS",
    "RING_SETTLE_SECONDS",
    "Database",
    "ProgressCallback",
    "RewrapProgress",
    "RewrapResult",
    "RotationInProgressError",
    "TableRewrap",
    "ciphertext_header",
    "primary_key_age",
    "rewrap_fields",
    "rotation_lock",
]

RING_SETTLE_SECONDS = 30.0
"""How long after a key becomes primary every API process has it in its ring and
encrypts under it: more than the API's ring refresh (``KEYRING_REFRESH_SECONDS``,
10 s) plus the longest request."""

_LOCK_KEY = 0x6578_6B72_6F74  # pg advisory lock id: one rotation per database
LOCK_WAIT_SECONDS = 10.0
"""How long a rotation waits for another session's rotation lock before giving up."""
_PASS_PAUSE_SECONDS = 0.2
_store = DataKeyStore()


class RotationInProgressError(CryptoError):
    """Another rewrap or retirement holds the rotation lock on this database."""


@dataclass(frozen=True)
class TableRewrap:
    """What a rewrap did to one table: counts of this run, and of every run onto the key."""

    table: str
    rows_rewrapped: int
    rows_done: int
    conflicts: int
    batches: int
    remaining: int


@dataclass(frozen=True)
class RewrapResult:
    """The outcome of :func:`rewrap_fields`; ``finished`` when every row is on the key."""

    run_id: str
    target_version: int
    finished: bool
    passes: int
    tables: tuple[TableRewrap, ...]

    @property
    def rows_rewrapped(self) -> int:
        """Rows this run rewrote onto the target key, over all tables."""
        return sum(t.rows_rewrapped for t in self.tables)

    @property
    def remaining(self) -> int:
        """Rows still off the target key when the run stopped."""
        return sum(t.remaining for t in self.tables)

    @property
    def batches(self) -> int:
        """Batches this run committed."""
        return sum(t.batches for t in self.tables)

    def metadata(self) -> dict[str, str | int | bool]:
        """Flat counts for a run's record (Dagster metadata, logs)."""
        flat: dict[str, str | int | bool] = {
            "run_id": self.run_id,
            "target_version": self.target_version,
            "finished": self.finished,
            "passes": self.passes,
            "batches": self.batches,
            "rows_rewrapped": self.rows_rewrapped,
            "remaining": self.remaining,
        }
        for t in self.tables:
            flat[f"{t.table}.rows_rewrapped"] = t.rows_rewrapped
            flat[f"{t.table}.rows_on_key"] = t.rows_done
            flat[f"{t.table}.conflicts"] = t.conflicts
            flat[f"{t.table}.remaining"] = t.remaining
        return flat


@dataclass(frozen=True)
class RewrapProgress:
    """Reported after each committed batch."""

    run_id: str
    target_version: int
    table: str
    batch_rows: int
    rows_done: int
    rows_rewrapped: int

    def __str__(self) -> str:
        return (
            f"rewrap onto data key {self.target_version}: {self.table} +{self.batch_rows} "
            f"({self.rows_done} rows on the key)"
        )


ProgressCallback = Callable[[RewrapProgress], None]
Database = asyncpg.Pool | DbConnection | str


class _PrimaryMoved(Exception):
    """The target stopped being the primary key during a run."""


@dataclass
class _Tally:
    rewrapped: int = 0
    rows_done: int = 0
    conflicts: int = 0
    batches: int = 0
    remaining: int = 0


@contextlib.asynccontextmanager
async def _connections(db: Database, count: int) -> AsyncIterator[list[DbConnection]]:
    """Up to ``count`` connections: as many from a URL or a pool (within its size), the
    caller's one connection otherwise."""
    async with contextlib.AsyncExitStack() as stack:
        if isinstance(db, str):
            conns: list[DbConnection] = []
            for _ in range(count):
                conn = await connect(db)
                stack.push_async_callback(conn.close)
                conns.append(conn)
            yield conns
        elif isinstance(db, asyncpg.Pool):
            size = max(1, min(count, db.get_max_size()))
            yield [await stack.enter_async_context(db.acquire()) for _ in range(size)]
        else:
            yield [db]


@contextlib.asynccontextmanager
async def rotation_lock(
    conn: DbConnection, *, wait_seconds: float = LOCK_WAIT_SECONDS
) -> AsyncIterator[None]:
    """Hold the database's rotation lock (a session advisory lock) for the block; raise
    :class:`RotationInProgressError` if another session keeps it for ``wait_seconds``
    (the server session of a run killed a moment ago may still be finishing its batch)."""
    if conn.is_in_transaction():
        raise ValueError("key rotation commits batch by batch: call it outside a transaction")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not await conn.fetchval(QUERIES["lock_rotation"], _LOCK_KEY):
        if loop.time() >= deadline:
            raise RotationInProgressError(
                "another key rotation (rewrap or retirement) is running on this database"
            )
        await asyncio.sleep(0.1)
    try:
        yield
    finally:
        # a lost connection has lost the lock with it
        with contextlib.suppress(
            asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
        ):
            await conn.fetchval(QUERIES["unlock_rotation"], _LOCK_KEY)


async def primary_key_age(conn: DbConnection) -> tuple[int | None, float]:
    """The primary key's version (None if there is none) and its age in seconds."""
    row = await conn.fetchrow(QUERIES["primary_key"])
    return (None, 0.0) if row is None else (row["version"], row["age_seconds"])


async def rewrap_fields(
    db: Database,
    settings: Settings,
    *,
    run_id: str,
    batch_size: int = 1000,
    max_batches: int | None = None,
    progress: ProgressCallback | None = None,
    settle_seconds: float = RING_SETTLE_SECONDS,
    max_passes: int = 5,
    writers: int = 2,
) -> RewrapResult:
    """Rewrap every field ciphertext onto the primary data key (see the module docstring).

    ``db`` is a pool, a connection (not in a transaction) or a database URL. From
    a pool or a URL the run uses one connection to read and ``writers`` more to
    write batches side by side; given one connection it does everything on it.
    Waits until the primary key is ``settle_seconds`` old, then passes over the
    tables until none holds a row off the key. Stops early, unfinished, after
    ``max_batches`` committed batches, or after ``max_passes`` passes that each
    left rows behind (rows some writer keeps changing); running again continues.
    """
    if batch_size < 1 or writers < 1:
        raise ValueError("batch_size and writers must be at least 1")
    async with _connections(db, 1 + writers) as conns, rotation_lock(conns[0]):
        run = _RewrapRun(
            [_Session(c) for c in conns], settings, run_id, batch_size, max_batches, progress
        )
        return await run.run(settle_seconds, max_passes)


@dataclass
class _Session:
    """A connection and the lock that keeps it to one statement at a time."""

    conn: DbConnection
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _RewrapRun:
    sessions: list[_Session]
    settings: Settings
    run_id: str
    batch_size: int
    max_batches: int | None
    progress: ProgressCallback | None
    reencryptor: BatchReencryptor | None = None
    tallies: dict[str, _Tally] = field(
        default_factory=lambda: {t.name: _Tally() for t in ENCRYPTED_TABLES}
    )
    submitted: int = 0

    @property
    def conn(self) -> DbConnection:
        """The reading connection (which holds the rotation lock)."""
        return self.sessions[0].conn

    @property
    def writers(self) -> list[_Session]:
        return self.sessions[1:] or self.sessions

    @property
    def target(self) -> int:
        assert self.reencryptor is not None
        return self.reencryptor.primary_version

    def _out_of_budget(self) -> bool:
        return self.max_batches is not None and self.submitted >= self.max_batches

    async def _load_ring(self) -> None:
        self.reencryptor = BatchReencryptor(await _store.load(self.conn, self.settings.keks))

    async def run(self, settle_seconds: float, max_passes: int) -> RewrapResult:
        passes = 0
        while True:
            primary, age = await primary_key_age(self.conn)
            if self.reencryptor is None or primary != self.reencryptor.primary_version:
                await self._load_ring()
                continue
            if age < settle_seconds:  # until every API has the key in its ring
                await asyncio.sleep(settle_seconds - age)
                continue
            passes += 1
            try:
                for q in TABLE_QUERIES.values():
                    if not await self._pass(q):
                        return await self._result(passes, finished=False)
            except _PrimaryMoved:
                continue
            except KeyUnavailableError:
                # a row under a key made after the ring was loaded: the new primary
                before = self.target
                await self._load_ring()
                if self.target == before:
                    raise
                continue
            if not any(t.remaining for t in self.tallies.values()):
                return await self._result(passes, finished=True)
            if passes >= max_passes:
                return await self._result(passes, finished=False)
            await asyncio.sleep(_PASS_PAUSE_SECONDS)

    async def _result(self, passes: int, *, finished: bool) -> RewrapResult:
        if not finished:  # stopped part-way: count what is left everywhere
            header = ciphertext_header(self.target)
            for name, q in TABLE_QUERIES.items():
                self.tallies[name].remaining = await self.conn.fetchval(
                    q.count_off_primary, self.target, header
                )
        tables = tuple(
            TableRewrap(name, t.rewrapped, t.rows_done, t.conflicts, t.batches, t.remaining)
            for name, t in self.tallies.items()
        )
        return RewrapResult(self.run_id, self.target, finished, passes, tables)

    async def _fetch(self, q: TableQueries, after: str | None) -> list[asyncpg.Record]:
        args = (self.target, ciphertext_header(self.target), self.batch_size)
        async with self.sessions[0].lock:
            if after is None:
                return await self.conn.fetch(q.first_batch, *args)
            return await self.conn.fetch(q.next_batch, *args, after)

    async def _pass(self, q: TableQueries) -> bool:
        """One pass over a table from its checkpoint; False when the batch budget ran out.

        The next batch is read while this one is re-encrypted in a thread; each
        re-encrypted batch is written by the next free writer."""
        name, tally = q.table.name, self.tallies[q.table.name]
        checkpoint = await self.conn.fetchrow(QUERIES["checkpoint"], self.target, name)
        if checkpoint is not None:
            tally.rows_done = checkpoint["rows_done"]
        rows = await self._fetch(q, checkpoint["last_id"] if checkpoint else None)
        writes: list[asyncio.Task[None]] = []
        try:
            while rows and not self._out_of_budget():
                work = asyncio.ensure_future(self._rewrap(q, rows))
                try:
                    following = await self._fetch(q, str(rows[-1]["id"]))
                finally:
                    arrays = await work
                writer = self.writers[self.submitted % len(self.writers)]
                if len(writes) >= len(self.writers):
                    await writes.pop(0)
                writes.append(asyncio.create_task(self._write(writer, q, rows, arrays)))
                self.submitted += 1
                rows = following
        finally:
            outcomes = await asyncio.gather(*writes, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        if rows:
            return False  # out of budget
        tally.remaining = await self.conn.fetchval(
            q.count_off_primary, self.target, ciphertext_header(self.target)
        )
        await self.conn.execute(QUERIES["end_pass"], self.target, name, tally.remaining == 0)
        return True

    async def _rewrap(self, q: TableQueries, rows: list[asyncpg.Record]) -> list[list[object]]:
        """The batch update's arrays, computed in a worker thread."""
        assert self.reencryptor is not None
        return await asyncio.to_thread(rewrap_rows, self.reencryptor, q.table, rows)

    async def _write(
        self,
        writer: _Session,
        q: TableQueries,
        rows: list[asyncpg.Record],
        arrays: Sequence[list[object]],
    ) -> None:
        name, tally = q.table.name, self.tallies[q.table.name]
        last = str(rows[-1]["id"])
        async with writer.lock:
            result = await writer.conn.fetchrow(q.rewrap_batch, self.target, name, last, *arrays)
        assert result is not None  # the statement always returns its one summary row
        if not result["still_primary"]:
            raise _PrimaryMoved
        written: int = result["rewrapped"]
        tally.rewrapped += written
        tally.conflicts += len(rows) - written
        tally.rows_done = max(tally.rows_done, result["rows_done"])
        tally.batches += 1
        if self.progress is not None:
            self.progress(
                RewrapProgress(
                    self.run_id, self.target, name, written, tally.rows_done, tally.rewrapped
                )
            )

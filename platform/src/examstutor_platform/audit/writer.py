"""Group-commit audit writer: callers await durability, one COPY per flush.

Every request that touches personal data awaits :meth:`AuditWriter.write`,
which returns only once the event is committed. A flusher task takes what is
queued (up to ``max_batch`` events), sends it as ONE binary
``COPY audit_events (…) FROM STDIN``, and answers every waiting caller when
the COPY has committed. A COPY outside an explicit transaction is a
one-statement transaction: all its rows commit, or none, and PostgreSQL
commits before it reports completion; an explicit BEGIN/COMMIT would only add
two round trips. While a flush is in flight new events queue up for the next
one, so batches grow with the load (natural group commit); no sleep sits on
the hot path unless ``linger`` asks for one.

``flushers`` (default 2) flushes may be in flight at once, each on its own
connection: when every producer waits on one flush (the common case under
load), the next batch is already committing, so Python's work and the
server's overlap. A flusher takes no more than an even share of the queue
among the idle flushers. With ``flushers=1`` the writer is the classic single
flusher. Either way, ``seq`` order is not commit order across concurrent
transactions (nor across API replicas): readers that need a gap-free prefix
by ``seq`` must wait for older transactions to finish.

Failure is closed. When the database cannot take a batch (connection lost,
permission denied, timeout, anything) EVERY caller in that batch gets
:class:`~examstutor_platform.errors.AuditWriteError` and none is told its
event was stored; the writer keeps running and the next batch tries again on
a fresh connection. A batch is retried (once) only when it failed before its
COPY was sent (no connection could be acquired or set up), because only then
is it certain that none of it reached the database. Once the COPY was sent
the outcome may be unknown (the connection died before the server's
answer): those callers fail, and their events may nevertheless be stored.
The log then over-reports an action whose request was refused, never the
reverse; a retry could store events twice. When ``max_queue`` events already
wait, :meth:`AuditWriter.write` raises at once (``audit queue full``) rather
than grow memory; the API answers 503.

Rows are encoded here, into PostgreSQL's binary COPY format, when an event is
submitted, rather than through ``copy_records_to_table``: encoding at submit
time makes a malformed event fail its own caller instead of poisoning the
batch, and is faster. ``details`` is written as the same compact JSON that
:func:`examstutor_platform.db.pool.init_connection`'s jsonb codec writes.

Each flusher holds one connection of the pool from its first flush until
:meth:`AuditWriter.close` (or until the connection fails), so the pool needs
at least ``flushers`` connections; give the writer a pool of its own
(``create_pool(url, min_size=2, max_size=2)``) so that request handlers
holding connections cannot starve it. On each connection it takes, the writer
turns ``synchronous_commit`` back ``on`` if the server has it ``off``, so
that "committed" means durable.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from examstutor_platform.audit.events import COLUMNS, AuditEvent
from examstutor_platform.errors import AuditWriteError

__all__ = ["AuditWriter", "AuditWriterStats", "FlushCallback", "encode_row"]

_log = logging.getLogger(__name__)

#: called after every committed flush with the batch size and its latency in seconds
FlushCallback = Callable[[int, float], None]

_TABLE = "audit_events"
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_COPY_TRAILER = b"\xff\xff"
_FIELD_COUNT = struct.pack("!h", len(COLUMNS))
_NULL = struct.pack("!i", -1)
_LENGTH = struct.Struct("!i").pack
_JSONB_VERSION = b"\x01"
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# the same encoding without building a C encoder per call (2.5x faster; this is the hot
# path): what JSONEncoder.encode does inside, minus the per-call set-up and circular
# check (a circular value raises RecursionError instead of ValueError)
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_JSON_CHUNKS: Callable[[object, int], Iterable[str]] | None = (
    None
    if _C_MAKE_ENCODER is None
    else _C_MAKE_ENCODER(
        None,
        _JSON_ENCODER.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
)
# an escaped NUL that is not itself an escaped backslash followed by "u0000"
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# run once per connection the writer takes: "committed" must mean durable, also where
# the server runs with synchronous_commit = off (every other setting is left as it is)
_DURABLE = """
DO $$ BEGIN
    IF current_setting('synchronous_commit') = 'off' THEN
        SET synchronous_commit TO on;
    END IF;
END $$"""


def _json(value: object) -> str:
    if _JSON_CHUNKS is None:
        return _JSON_ENCODER.encode(value)
    return "".join(_JSON_CHUNKS(value, 0))


def encode_row(event: AuditEvent) -> bytes:
    """One row of binary COPY data for :data:`COLUMNS` (raises ValueError/TypeError).

    ``details`` becomes the compact JSON the platform's jsonb codec writes; what
    PostgreSQL would refuse (NUL characters, NaN) is refused here."""
    texts = (
        event.actor_pseudonym,
        event.actor_role,
        event.action,
        event.resource,
        event.resource_id,
        event.outcome,
        event.severity,
        event.ip_prefix,
        event.request_id,
    )
    if "\x00" in "".join([text for text in texts if text is not None]):  # TypeError if not str
        raise ValueError("an audit text field contains a NUL character")
    parts = [_FIELD_COUNT]
    append = parts.append
    for text in texts:
        if text is None:
            append(_NULL)
        else:
            data = text.encode()
            append(_LENGTH(len(data)))
            append(data)
    details = _json(event.details)
    if "\\u0000" in details and _JSON_NUL.search(details):
        raise ValueError("audit details contain a NUL character, which jsonb cannot store")
    data = details.encode()
    append(_LENGTH(len(data) + 1))
    append(_JSONB_VERSION)
    append(data)
    return b"".join(parts)


@dataclass
class AuditWriterStats:
    """Counters for ``/metrics``; read them at scrape time (queue depth is on the writer)."""

    flushes: int = 0
    events_written: int = 0
    failed_flushes: int = 0
    events_failed: int = 0
    events_rejected: int = 0
    last_batch_size: int = 0
    last_flush_seconds: float = 0.0


@dataclass(slots=True)
class _Pending:
    """Rows one caller submitted together, and the future that caller awaits."""

    rows: bytes
    count: int
    future: asyncio.Future[None]


class _NotSent(Exception):
    """A flush failed before any of its rows were sent (safe to retry)."""


@dataclass(slots=True)
class _Lane:
    """One flusher task, the connection it holds between flushes, the events it is flushing."""

    conn: PoolConnectionProxy[Record] | None = None
    in_flight: int = 0


class AuditWriter:
    """Queues audit events and commits them in batches; :meth:`write` awaits the commit."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_batch: int = 1000,
        max_queue: int = 10_000,
        linger: float = 0.0,
        flushers: int = 2,
        timeout: float = 10.0,
        on_flush: FlushCallback | None = None,
    ) -> None:
        """``linger``: seconds a flusher waits for more events before a flush that is not
        full (0: flush at once; load alone makes batches). ``flushers``: flushes that may
        be in flight at once, each on its own connection. ``timeout``: seconds each
        database step of a flush (connect, COPY) may take."""
        if max_batch < 1 or max_queue < 1 or flushers < 1:
            raise ValueError("max_batch, max_queue and flushers must be at least 1")
        if linger < 0 or timeout <= 0:
            raise ValueError("linger must be >= 0 and timeout > 0")
        self._pool = pool
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.linger = linger
        self.timeout = timeout
        self.on_flush = on_flush
        self.stats = AuditWriterStats()
        self._lanes = [_Lane() for _ in range(flushers)]
        self._queue: deque[_Pending] = deque()
        self._queued = 0
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    # -- public --------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        """Events waiting for a flush (not counting the batches in flight)."""
        return self._queued

    @property
    def in_flight(self) -> int:
        """Events in the flushes now running."""
        return sum(lane.in_flight for lane in self._lanes)

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of :meth:`close`."""
        return any(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Start the flusher tasks on the running event loop."""
        if self._closing:
            raise AuditWriteError("audit writer is closed")
        if self._pool.get_max_size() < len(self._lanes):
            raise ValueError(
                f"the audit writer's pool holds at most {self._pool.get_max_size()} "
                f"connections; its {len(self._lanes)} flushers need one each"
            )
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._run(lane), name=f"audit-writer-flusher-{i}")
                for i, lane in enumerate(self._lanes)
            ]

    async def write(self, event: AuditEvent) -> None:
        """Store ``event``; return once it is committed, else raise AuditWriteError."""
        await self._submit(_encode_or_fail(event), 1)

    async def write_many(self, events: Iterable[AuditEvent]) -> None:
        """Store ``events`` in one flush, all or none; return once they are committed."""
        rows = [_encode_or_fail(event) for event in events]
        if rows:
            await self._submit(b"".join(rows), len(rows))

    async def close(self) -> None:
        """Stop taking events, flush what is queued, then stop the flushers.

        To bound the wait, cancel it (``async with asyncio.timeout(5): await
        writer.close()``): the flushers are then cancelled too and the callers still
        waiting get AuditWriteError. Close the writer before its pool."""
        self._closing = True
        if not self._tasks:
            return
        self._wakeup.set()
        done = asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            for task in self._tasks:
                task.cancel()
            await done
            raise

    # -- internals -----------------------------------------------------------
    async def _submit(self, rows: bytes, count: int) -> None:
        if self._closing:
            raise AuditWriteError("audit writer is closed; the event was not stored")
        if not self._tasks:
            raise AuditWriteError("audit writer is not running; the event was not stored")
        if self._queued + count > self.max_queue:
            self.stats.events_rejected += count
            raise AuditWriteError(
                f"audit queue full ({self._queued} events waiting); the event was not stored"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(rows, count, future))
        self._queued += count
        self._wakeup.set()
        await future

    def _take(self) -> list[_Pending]:
        """The next batch: whole submissions (at least one), up to max_batch events and
        no more than an even share among the flushers that are idle now, so that with
        every producer waiting on one flush the next one is already on its way."""
        idle = sum(1 for lane in self._lanes if not lane.in_flight)  # this one included
        limit = min(self.max_batch, -(-self._queued // max(idle, 1)))  # ceil(queued / idle)
        batch = [self._queue.popleft()]
        size = batch[0].count
        while self._queue and size + self._queue[0].count <= limit:
            item = self._queue.popleft()
            batch.append(item)
            size += item.count
        self._queued -= size
        return batch

    async def _run(self, lane: _Lane) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                if self.linger and not self._closing and self._queued < self.max_batch:
                    await asyncio.sleep(self.linger)
                    if not self._queue:  # another flusher took it
                        continue
                batch = self._take()
                lane.in_flight = sum(item.count for item in batch)
                await self._flush(lane, batch)
        except Exception:
            _log.exception("audit writer flusher stopped on an unexpected error")
            raise
        finally:
            # closed, cancelled (close was cancelled) or a bug: nobody may wait forever
            self._closing = True
            self._fail(list(self._queue), AuditWriteError("audit writer stopped"))
            self._queue.clear()
            self._queued = 0
            if lane.conn is not None:
                conn, lane.conn = lane.conn, None
                try:
                    await self._pool.release(conn, timeout=self.timeout)
                except Exception as exc:
                    _log.warning("audit writer could not release its connection: %r", exc)

    async def _flush(self, lane: _Lane, batch: list[_Pending]) -> None:
        size = lane.in_flight
        payload = b"".join([_COPY_HEADER, *(item.rows for item in batch), _COPY_TRAILER])
        started = time.perf_counter()
        try:
            try:
                await self._copy(lane, payload)
            except _NotSent:
                _log.warning("audit flush: no usable connection before sending; retrying once")
                await self._copy(lane, payload)
        except BaseException as exc:
            cause = exc.__cause__ if isinstance(exc, _NotSent) and exc.__cause__ else exc
            self.stats.failed_flushes += 1
            self.stats.events_failed += size
            _log.error(
                "audit flush of %d events failed (%s); callers fail closed",
                size,
                type(cause).__name__,
            )
            error = AuditWriteError(
                f"audit events could not be stored ({type(cause).__name__}: {cause})"
            )
            self._fail(batch, error, cause)
            if not isinstance(exc, Exception):
                raise  # CancelledError and friends: stop after failing the callers
            return
        finally:
            lane.in_flight = 0
        seconds = time.perf_counter() - started
        for item in batch:
            if not item.future.done():  # a caller may have been cancelled
                item.future.set_result(None)
        self.stats.flushes += 1
        self.stats.events_written += size
        self.stats.last_batch_size = size
        self.stats.last_flush_seconds = seconds
        if self.on_flush is not None:
            try:
                self.on_flush(size, seconds)
            except Exception:
                _log.exception("audit writer on_flush callback failed")

    async def _connection(self, lane: _Lane) -> PoolConnectionProxy[Record]:
        """The lane's connection, (re)acquired when missing or closed; raises _NotSent
        when none could be set up (nothing was sent then)."""
        conn = lane.conn
        if conn is not None and _usable(conn):
            return conn
        if conn is not None:
            lane.conn = None
            await self._pool.release(conn, timeout=self.timeout)  # no-op if already taken back
        try:
            conn = await self._pool.acquire(timeout=self.timeout)
        except TimeoutError:
            raise  # the pool is busy: waiting once more would only double the delay
        except Exception as exc:
            raise _NotSent() from exc
        try:
            await conn.execute(_DURABLE, timeout=self.timeout)
        except BaseException as exc:
            await self._discard(conn)
            if isinstance(exc, Exception) and not isinstance(exc, TimeoutError):
                raise _NotSent() from exc
            raise
        lane.conn = conn
        return conn

    async def _copy(self, lane: _Lane, payload: bytes) -> None:
        """One COPY, committed on its own (a one-statement transaction: all rows or none).
        On any failure the connection is dropped, never reused half-way."""
        conn = await self._connection(lane)
        try:
            await conn.copy_to_table(
                _TABLE,
                source=_once(payload),
                columns=COLUMNS,
                format="binary",
                timeout=self.timeout,
            )
        except BaseException:
            lane.conn = None
            await self._discard(conn)
            raise

    async def _discard(self, conn: PoolConnectionProxy[Record]) -> None:
        if _usable(conn):
            conn.terminate()  # the server rolls back whatever was not committed
        await self._pool.release(conn)

    @staticmethod
    def _fail(
        batch: list[_Pending], error: AuditWriteError, cause: BaseException | None = None
    ) -> None:
        for item in batch:
            if not item.future.done():
                exc = AuditWriteError(*error.args)
                exc.__cause__ = cause
                item.future.set_exception(exc)


def _usable(conn: PoolConnectionProxy[Record]) -> bool:
    """False once the connection closed (the pool then takes it back by itself)."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


async def _once(payload: bytes) -> AsyncIterator[bytes]:
    yield payload


def _encode_or_fail(event: AuditEvent) -> bytes:
    """:func:`encode_row`, with an unencodable event reported as AuditWriteError."""
    try:
        return encode_row(event)
    except (TypeError, ValueError, RecursionError) as exc:
        raise AuditWriteError(f"audit event cannot be stored: {exc}") from exc

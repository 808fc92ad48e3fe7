"""Group-commit audit writer: callers await durability, one COPY per flush.

Every request that touches personal data awaits :meth:`AuditWriter.write`,
which returns only once the event is committed. A flusher task takes what is
queued, sends it as ONE binary ``COPY audit_events (…) FROM STDIN``, and
answers every waiting caller once the COPY has committed. A COPY outside an
explicit transaction is a one-statement transaction: all its rows commit, or
none, and PostgreSQL commits before it reports completion; an explicit
BEGIN/COMMIT would only add two round trips. While a COPY commits, new events
queue up for the next one, so batches grow with the load (natural group
commit).

The COPY streams. Its first rows go out as soon as the flusher has them, and
the rows that arrive while it is open follow in further chunks, so that the
server inserts while Python is still producing. It stays open while events
keep coming at once, for ``linger`` seconds at most when asked, and for
``max_batch`` events at most. The callers of the COPY before are told of their
commit a slice (eight) at a time while the next COPY is open: when every
producer waits on one COPY (the common case under load), the events those
callers write next stream into the new COPY while the others are still being
woken, instead of the server idling while Python wakes them all. Nobody is
told before their own COPY has committed.

``flushers`` (default 1) COPYs may be open at once, each on its own
connection. A flusher's first take is no more than an even share of the queue
among the idle flushers, and it stops streaming while another flusher is
idle. On two cores one streaming flusher is the faster (bench/RESULTS.md).
Either way, ``seq`` order is not commit order across concurrent transactions
(nor across API replicas): readers that need a gap-free prefix by ``seq``
must wait for older transactions to finish.

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
from dataclasses import dataclass, field

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from examstutor_platform.audit.events import ACTIONS, COLUMNS, OUTCOMES, SEVERITIES, AuditEvent
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
#: committed callers told per step while the next COPY streams (see AuditWriter._run)
_RELEASE_SLICE = 8
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


# action, outcome and severity come from closed sets (AuditEvent checks them): their
# length-prefixed fields are built once, here
_CLOSED_FIELDS: dict[str, bytes] = {
    text: _LENGTH(len(text.encode())) + text.encode() for text in (*ACTIONS, *OUTCOMES, *SEVERITIES)
}


def encode_row(event: AuditEvent) -> bytes:
    """One row of binary COPY data for :data:`COLUMNS` (raises ValueError/TypeError).

    ``details`` becomes the compact JSON the platform's jsonb codec writes; what
    PostgreSQL would refuse (NUL characters, NaN) is refused here. This runs once per
    audited request, so it is written for speed: no helper calls, one join."""
    resource_id, ip_prefix, request_id = event.resource_id, event.ip_prefix, event.request_id
    texts = [event.actor_pseudonym, event.actor_role, event.resource]
    if resource_id is not None:
        texts.append(resource_id)
    if ip_prefix is not None:
        texts.append(ip_prefix)
    if request_id is not None:
        texts.append(request_id)
    if "\x00" in "".join(texts):  # TypeError if one is not a str
        raise ValueError("an audit text field contains a NUL character")
    closed = _CLOSED_FIELDS
    try:
        action, outcome, severity = (
            closed[event.action],
            closed[event.outcome],
            closed[event.severity],
        )
    except (KeyError, TypeError):
        raise ValueError("audit action, outcome or severity is not a known value") from None
    details = _json(event.details)
    if "\\u0000" in details and _JSON_NUL.search(details):
        raise ValueError("audit details contain a NUL character, which jsonb cannot store")
    length = _LENGTH
    actor = texts[0].encode()
    role = texts[1].encode()
    resource = texts[2].encode()
    parts = [_FIELD_COUNT, length(len(actor)), actor, length(len(role)), role, action]
    parts += (length(len(resource)), resource)
    if resource_id is None:
        parts.append(_NULL)
    else:
        data = resource_id.encode()
        parts += (length(len(data)), data)
    parts += (outcome, severity)
    for text in (ip_prefix, request_id):
        if text is None:
            parts.append(_NULL)
        else:
            data = text.encode()
            parts += (length(len(data)), data)
    data = details.encode()
    parts += (length(len(data) + 1), _JSONB_VERSION, data)
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
    #: submissions of the last COPY, committed, whose callers are not yet told
    committed: deque[_Pending] = field(default_factory=deque)


class AuditWriter:
    """Queues audit events and commits them in batches; :meth:`write` awaits the commit."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_batch: int = 1000,
        max_queue: int = 10_000,
        linger: float = 0.0,
        flushers: int = 1,
        timeout: float = 10.0,
        on_flush: FlushCallback | None = None,
    ) -> None:
        """``linger``: seconds an open COPY waits for more events before it commits (0:
        commit once nothing more comes at once; load alone makes batches). ``flushers``:
        COPYs that may be open at once, each on its own connection. ``timeout``: seconds
        each database step of a flush (connect, the whole COPY) may take."""
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
        await self._enqueue(_encode_or_fail(event), 1)

    async def write_many(self, events: Iterable[AuditEvent]) -> None:
        """Store ``events`` in one flush, all or none; return once they are committed."""
        rows = [_encode_or_fail(event) for event in events]
        if rows:
            await self._enqueue(b"".join(rows), len(rows))

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
    def _enqueue(self, rows: bytes, count: int) -> asyncio.Future[None]:
        """Queue ``rows`` for the next flush; the caller awaits the future returned."""
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
        return future

    def _take(self, lane: _Lane, batch: list[_Pending]) -> bytes:
        """Move queued submissions into ``batch`` (at least one when ``batch`` is empty),
        up to max_batch events, and return their rows. A COPY's first take is no more
        than an even share among the idle flushers, so that with every producer waiting
        on one flush the next one is already on its way."""
        limit = self.max_batch - lane.in_flight
        if not batch:
            idle = sum(1 for other in self._lanes if not other.in_flight)  # this one too
            limit = min(limit, -(-self._queued // max(idle, 1)))  # ceil(queued / idle)
        queue = self._queue
        rows: list[bytes] = []
        size = 0
        while queue and (size + queue[0].count <= limit or not (batch or rows)):
            item = queue.popleft()
            batch.append(item)
            rows.append(item.rows)
            size += item.count
        self._queued -= size
        lane.in_flight += size
        return b"".join(rows)

    async def _run(self, lane: _Lane) -> None:
        try:
            while True:
                # hand the last COPY's callers their answer a slice at a time, so that
                # the events they write next can stream into a new COPY meanwhile
                while lane.committed and not self._queue:
                    self._release(lane, _RELEASE_SLICE)
                    await asyncio.sleep(0)
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._flush(lane)
        except Exception:
            _log.exception("audit writer flusher stopped on an unexpected error")
            raise
        finally:
            # closed, cancelled (close was cancelled) or a bug: nobody may wait forever;
            # what was committed is reported as stored, the rest fails
            self._release(lane, len(lane.committed))
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

    async def _stream(
        self, lane: _Lane, batch: list[_Pending], first: bytes
    ) -> AsyncIterator[bytes]:
        """The COPY data: ``first`` (taken from the queue), then what arrives while the
        last COPY's callers are told (a slice at a time) or within ``linger``; ends when
        nothing more comes at once, or at max_batch events."""
        yield _COPY_HEADER + first
        deadline = time.monotonic() + self.linger if self.linger else 0.0
        others = [other for other in self._lanes if other is not lane]
        while lane.in_flight < self.max_batch:
            if any(not other.in_flight for other in others):
                break  # an idle flusher takes what comes next, on its own connection
            if lane.committed:
                self._release(lane, _RELEASE_SLICE)
                await asyncio.sleep(0)  # the released callers run (and may write again)
            elif not self._queue:
                wait = deadline - time.monotonic() if deadline and not self._closing else 0.0
                if wait <= 0:
                    await asyncio.sleep(0)  # producers that are ready now still count
                else:
                    self._wakeup.clear()
                    try:
                        async with asyncio.timeout(wait):
                            await self._wakeup.wait()
                    except TimeoutError:
                        pass
                if not self._queue:
                    break
            if self._queue:
                yield self._take(lane, batch)
        self._release(lane, len(lane.committed))  # ended at max_batch: tell the rest now
        yield _COPY_TRAILER

    async def _flush(self, lane: _Lane) -> None:
        """One COPY of what is queued and what streams in meanwhile; its callers learn
        the outcome (success through ``lane.committed``, which _run hands out)."""
        batch: list[_Pending] = []
        started = time.perf_counter()
        try:
            try:
                conn = await self._connection(lane)
            except _NotSent:
                _log.warning("audit flush: no usable connection before sending; retrying once")
                conn = await self._connection(lane)
            first = self._take(lane, batch)
            if not batch:
                return  # another flusher took it all while this one got its connection
            await self._copy(lane, conn, self._stream(lane, batch, first))
        except BaseException as exc:
            self._release(lane, len(lane.committed))  # stored by the COPY before this one
            cause = exc.__cause__ if isinstance(exc, _NotSent) and exc.__cause__ else exc
            if not batch:  # failed before the COPY took anything: its first share fails
                self._take(lane, batch)
            size = lane.in_flight
            lane.in_flight = 0
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
        size = lane.in_flight
        lane.in_flight = 0
        seconds = time.perf_counter() - started
        lane.committed.extend(batch)
        self.stats.flushes += 1
        self.stats.events_written += size
        self.stats.last_batch_size = size
        self.stats.last_flush_seconds = seconds
        if self.on_flush is not None:
            try:
                self.on_flush(size, seconds)
            except Exception:
                _log.exception("audit writer on_flush callback failed")

    @staticmethod
    def _release(lane: _Lane, count: int) -> None:
        """Tell up to ``count`` committed submissions that their events are stored."""
        committed = lane.committed
        for _ in range(min(count, len(committed))):
            future = committed.popleft().future
            if not future.done():  # a caller may have been cancelled
                future.set_result(None)

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

    async def _copy(
        self, lane: _Lane, conn: PoolConnectionProxy[Record], source: AsyncIterator[bytes]
    ) -> None:
        """One COPY, committed on its own (a one-statement transaction: all rows or none).
        On any failure the connection is dropped, never reused half-way. The timeout is
        applied here, around the whole COPY: asyncpg's own would wrap every chunk in a
        task."""
        try:
            async with asyncio.timeout(self.timeout):
                await conn.copy_to_table(_TABLE, source=source, columns=COLUMNS, format="binary")
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


def _encode_or_fail(event: AuditEvent) -> bytes:
    """:func:`encode_row`, with an unencodable event reported as AuditWriteError."""
    try:
        return encode_row(event)
    except (TypeError, ValueError, RecursionError) as exc:
        raise AuditWriteError(f"audit event cannot be stored: {exc}") from exc

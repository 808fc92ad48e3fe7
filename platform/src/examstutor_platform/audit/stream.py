"""One business day of audit events, streamed out of PostgreSQL with its hash chain.

The seal, the export and ``audit verify`` all read a day the same way: one
``COPY (SELECT … ORDER BY seq) TO STDOUT`` (text format, the plain columns:
``day_rows`` in ``seal.sql``) whose output is cut into chunks of whole rows.
A pipeline of two worker threads overlaps with the server producing the next
chunk: the first parses a chunk with Arrow's CSV reader, builds each row's
canonical text with Arrow's string kernels
(:func:`~examstutor_platform.audit.columnar.canonical_lines`) and chains it;
the second hands the chunk's rows to the consumer (the Parquet writer, say).
Memory stays bounded by the chunk size whatever the day holds, and no Python
object is made per row except the row's hash.

What the chain hashes is ``canonical(export_row(record))`` (CONTRACT §6):
``details`` goes through
:func:`~examstutor_platform.audit.canonical.details_json` here, once per
distinct value. Tests hold the result to the reference on hostile text, and
the offline verifier recomputes every export with the reference code alone.

COPY's text format escapes a backslash as ``\\\\`` and the control characters
``\\b \\f \\n \\r \\t \\v`` as letters; :func:`copy_unescape` undoes that for the
few values that hold a backslash.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from array import array
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from json.encoder import encode_basestring
from time import sleep
from typing import Any, Final
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from examstutor_platform.audit.canonical import EXPORT_COLUMNS, details_json
from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.columnar import TEXT_COLUMNS, canonical_lines, needs_escape
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import ChainBrokenError

__all__ = [
    "CHUNK_BYTES",
    "EXPORT_SCHEMA",
    "DayChain",
    "DayRows",
    "RowProgress",
    "copy_unescape",
    "day_bounds",
    "day_of",
    "stream_day",
]

QUERIES = load_queries("examstutor_platform.audit", "seal.sql")

#: COPY output handed to the worker at a time (whole rows; bounds memory)
CHUNK_BYTES: Final = 4 << 20

#: the Parquet schema of CONTRACT §6
EXPORT_SCHEMA: Final = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        *(pa.field(name, pa.string()) for name in EXPORT_COLUMNS[2:]),
    ]
)
#: the columns of ``day_rows``
_NAMES: Final = ("seq", "occurred_us", *TEXT_COLUMNS, "details")
_TYPES: Final = {name: pa.string() for name in _NAMES} | {
    "seq": pa.int64(),
    "occurred_us": pa.int64(),
}
_PARSE = pcsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False)
_CONVERT = pcsv.ConvertOptions(column_types=_TYPES, null_values=["\\N"], strings_can_be_null=True)
_COPY_ESCAPE = re.compile(r"\\(.)", re.S)
_COPY_LETTERS: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_DETAILS_CACHE_LIMIT: Final = 100_000
#: rows hashed between two hand-overs of the GIL (a fraction of a millisecond; measured)
_HASH_SLICE: Final = 512

#: called with the number of rows chained so far
RowProgress = Callable[[int], None]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``[day 00:00, day+1 00:00)`` in the business time zone, as UTC datetimes."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def day_of(moment: datetime, tz: ZoneInfo) -> date:
    """The business day that ``moment`` falls in."""
    return moment.astimezone(tz).date()


def copy_unescape(text: str) -> str:
    """A value as stored, from its COPY text-format form."""
    return _COPY_ESCAPE.sub(lambda m: _COPY_LETTERS.get(m.group(1), m.group(1)), text)


def _unescape_column(column: pa.Array) -> pa.Array:
    """``column`` with COPY escapes undone (only values holding a backslash change)."""
    if not needs_escape(column):  # no backslash (nor any byte JSON escapes): most columns
        return column
    mask = pc.fill_null(pc.match_substring(column, "\\"), False)
    if not pc.any(mask).as_py():
        return column
    values = [copy_unescape(v) for v in column.filter(mask).to_pylist()]
    return pc.replace_with_mask(column, mask, pa.array(values, pa.string()))


def _read_chunk(data: bytes | memoryview) -> pa.Table:
    return pcsv.read_csv(
        pa.py_buffer(data),
        read_options=pcsv.ReadOptions(
            column_names=list(_NAMES), use_threads=False, block_size=len(data) + 1
        ),
        parse_options=_PARSE,
        convert_options=_CONVERT,
    )


def _column(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


@dataclass(frozen=True)
class DayRows:
    """One chunk of a day's rows as the export stores them, with their ``chain_hash``."""

    seq: pa.Array
    occurred_us: pa.Array
    texts: tuple[pa.Array, ...]
    details: pa.Array
    chain_hash: pa.Array

    @property
    def num_rows(self) -> int:
        """How many rows the chunk holds."""
        return len(self.seq)

    def export_batch(self) -> pa.RecordBatch:
        """The rows in :data:`EXPORT_SCHEMA`."""
        occurred = self.occurred_us.cast(pa.timestamp("us", tz="UTC"))
        return pa.RecordBatch.from_arrays(
            [self.seq, occurred, *self.texts, self.details, self.chain_hash], schema=EXPORT_SCHEMA
        )

    def hash_batch(self) -> pa.RecordBatch:
        """(``seq``, ``chain_hash``) of each row."""
        return pa.RecordBatch.from_arrays([self.seq, self.chain_hash], names=["seq", "chain_hash"])


class DayChain:
    """The chain over a day's rows: ``h_0`` = ``prev``, chunks added in seq order.

    :meth:`add` a chunk, or split the work across two threads: :meth:`prepare`
    (Arrow kernels, mostly outside the GIL) then :meth:`chain` (the hash loop),
    each called for the chunks in order.
    """

    def __init__(self, prev: str = GENESIS) -> None:
        self.prev = prev
        self._head = bytes.fromhex(prev)
        self.rows = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self._details: dict[str, tuple[str, str]] = {}

    @property
    def head(self) -> str:
        """The last row's ``chain_hash`` (``prev`` while there is none)."""
        return self._head.hex()

    def _details_for(self, raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(canonical details text, that text as a JSON string literal) per row."""
        if raw.null_count:
            raise ChainBrokenError("a row without details in the day's events", seq=None)
        encoded = raw.dictionary_encode()
        texts: list[str] = []
        literals: list[str] = []
        cache = self._details
        if len(cache) > _DETAILS_CACHE_LIMIT:
            cache.clear()
        for value in encoded.dictionary.to_pylist():
            known = cache.get(value)
            if known is None:
                text = details_json(json.loads(copy_unescape(value)))
                known = (text, encode_basestring(text))
                cache[value] = known
            texts.append(known[0])
            literals.append(known[1])
        indices = encoded.indices
        return pa.array(texts, pa.string()).take(indices), pa.array(literals, pa.string()).take(
            indices
        )

    def add(self, table: pa.Table) -> DayRows:
        """Chain one chunk of ``day_rows`` (a non-empty table); return its rows and hashes."""
        return self.chain(self.prepare(table))

    def prepare(self, table: pa.Table) -> _Prepared:
        """The chunk's columns and canonical lines (Arrow kernels; chunks in order, any thread)."""
        seq = _column(table, "seq")
        _check_order_within(seq)
        occurred_us = _column(table, "occurred_us")
        texts = tuple(_unescape_column(_column(table, name)) for name in TEXT_COLUMNS)
        details, literals = self._details_for(_column(table, "details"))
        lines = canonical_lines(seq, occurred_us, texts, literals)
        return _Prepared(DayRows(seq, occurred_us, texts, details, _NO_HASHES), lines)

    def chain(self, prepared: _Prepared) -> DayRows:
        """Hash the prepared chunk onto the chain (chunks in order, one thread at a time)."""
        rows, lines = prepared.rows, prepared.lines
        seq = rows.seq
        first = seq[0].as_py()
        if self.last_seq is not None and first <= self.last_seq:
            raise ChainBrokenError(
                f"seq {first} follows seq {self.last_seq}: repeated or out of order", seq=first
            )
        _, offsets_buffer, data_buffer = lines.buffers()
        offsets = memoryview(offsets_buffer).cast("i")[lines.offset : lines.offset + len(lines) + 1]
        data = memoryview(data_buffer)
        sha256 = hashlib.sha256
        head = self._head
        bounds = offsets.tolist()
        digests: list[bytes] = []
        for first_row in range(0, len(seq), _HASH_SLICE):
            part = bounds[first_row : first_row + _HASH_SLICE + 1]
            digests += [
                head := sha256(head + data[start:end]).digest() for start, end in pairwise(part)
            ]
            # hand the GIL to the other stages (their Arrow calls return into Python)
            # instead of making them wait for the interpreter's 5 ms switch interval
            sleep(0)
        self._head = head
        count = len(seq)
        if self.first_seq is None:
            self.first_seq = first
        self.last_seq = seq[count - 1].as_py()
        self.rows += count
        hex_text = b"".join(digests).hex().encode("ascii")
        hex_offsets = array("i", range(0, 64 * (count + 1), 64))
        chain_hash = pa.Array.from_buffers(
            pa.string(), count, [None, pa.py_buffer(hex_offsets), pa.py_buffer(hex_text)]
        )
        return DayRows(rows.seq, rows.occurred_us, rows.texts, rows.details, chain_hash)


@dataclass(frozen=True)
class _Prepared:
    rows: DayRows  # without chain_hash yet
    lines: pa.Array


_NO_HASHES: Final = pa.array([], pa.string())


def _check_order_within(seq: pa.Array) -> None:
    """Raise :class:`ChainBrokenError` unless ``seq`` is non-null and strictly increasing."""
    if seq.null_count:
        raise ChainBrokenError("a row without seq in the day's events", seq=None)
    if len(seq) > 1:
        bad = pc.less_equal(seq.slice(1), seq.slice(0, len(seq) - 1))
        if pc.any(bad).as_py():
            index = pc.index(bad, True).as_py() + 1
            raise ChainBrokenError(
                f"seq {seq[index].as_py()} follows seq {seq[index - 1].as_py()}: "
                "repeated or out of order",
                seq=seq[index].as_py(),
            )


class _Stages:
    """Items through a fixed list of stages, in order, each stage in a thread of its own.

    At most one item waits in each stage, so memory is bounded by the number of
    stages; stage ``i`` works on an item while stage ``i + 1`` works on the item
    before it. A stage's result goes to the next stage, the last stage's to
    ``done`` (in the event loop's thread).
    """

    def __init__(self, stages: list[Callable[[Any], Any]], done: Callable[[Any], None]) -> None:
        self._stages = stages
        self._done = done
        self._loop = asyncio.get_running_loop()
        self._threads = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"audit-stage-{n}")
            for n in range(len(stages))
        ]
        self._pending: list[asyncio.Future[Any] | None] = [None] * len(stages)

    async def push(self, item: Any, stage: int = 0) -> None:
        """Hand ``item`` to ``stage`` once that stage has passed its previous item on."""
        if stage == len(self._stages):
            self._done(item)
            return
        await self._settle(stage)
        self._pending[stage] = self._loop.run_in_executor(
            self._threads[stage], self._stages[stage], item
        )

    async def _settle(self, stage: int) -> None:
        pending = self._pending[stage]
        if pending is not None:
            self._pending[stage] = None
            await self.push(await pending, stage + 1)

    async def drain(self) -> None:
        """Let every item through every stage."""
        for stage in range(len(self._stages)):
            await self._settle(stage)

    async def close(self) -> None:
        """Wait for the threads' current work (after an error too) and stop them."""
        await asyncio.gather(*(f for f in self._pending if f is not None), return_exceptions=True)
        for thread in self._threads:
            thread.shutdown(wait=True)


async def stream_day(
    conn: DbConnection,
    start: datetime,
    end: datetime,
    chain: DayChain,
    *,
    on_batch: Callable[[pa.RecordBatch], Any] | None = None,
    with_columns: bool = False,
    progress: RowProgress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> DayChain:
    """Chain every event with ``start <= occurred_at < end`` in seq order onto ``chain``.

    Each chunk goes through three threads in turn while the server produces
    the next: parsing and canonical text (:meth:`DayChain.prepare`), hashing
    (:meth:`DayChain.chain`), then ``on_batch``, which gets each chunk's rows in
    order: a record batch of (``seq``, ``chain_hash``), or of
    :data:`EXPORT_SCHEMA` with ``with_columns``. ``progress`` gets the rows
    handled so far. The caller owns the transaction (the COPY is one
    statement, so it sees one snapshot either way).
    """

    def prepare(data: bytes | memoryview) -> _Prepared | None:
        table = _read_chunk(data)
        return chain.prepare(table) if table.num_rows else None

    def hash_chunk(prepared: _Prepared | None) -> DayRows | None:
        return None if prepared is None else chain.chain(prepared)

    def hand_on(rows: DayRows | None) -> int:
        if rows is None:
            return 0
        if on_batch is not None:
            on_batch(rows.export_batch() if with_columns else rows.hash_batch())
        return rows.num_rows

    done = 0

    def count(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None and rows:
            progress(done)

    pieces: list[bytes] = []
    held = 0
    stages = _Stages([prepare, hash_chunk, hand_on], count)
    failure: Exception | None = None

    async def sink(data: bytes) -> None:
        nonlocal held, failure
        if failure is not None:
            return  # the rest of the COPY is read and dropped
        pieces.append(data)
        held += len(data)
        if held < chunk_bytes:
            return
        joined = b"".join(pieces) if len(pieces) > 1 else pieces[0]
        cut = joined.rfind(b"\n") + 1
        if not cut:  # a row longer than a chunk: keep reading
            pieces[:] = [joined]
            return
        rest = joined[cut:]
        pieces[:] = [rest] if rest else []
        held = len(rest)
        try:
            await stages.push(memoryview(joined)[:cut])
        except Exception as exc:
            # not raised here: asyncpg then cancels the COPY, and when the COPY had already
            # ended that cancel is never answered and the connection hangs
            failure = exc
            pieces.clear()

    try:
        await conn.copy_from_query(QUERIES["day_rows"], start, end, output=sink, format="text")
        if failure is not None:
            raise failure
        if pieces:
            await stages.push(b"".join(pieces))
        await stages.drain()
    finally:
        await stages.close()
    return chain

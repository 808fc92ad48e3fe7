"""One business day of audit events, streamed out of PostgreSQL with its hash chain.

The seal, the export and ``audit verify`` all read a day the same way: one
``COPY (SELECT … ORDER BY seq) TO STDOUT`` (text format) whose output is cut
into chunks of whole rows, parsed by Arrow's CSV reader and chained in a
worker thread while the server keeps producing the next chunk. Memory stays
bounded by the chunk size whatever the day holds, and no Python object is
made per row except the row's hash.

What the chain hashes is ``canonical(export_row(record))`` (CONTRACT §6). The
server writes the canonical text of every column except ``details`` (keys in
order, ``to_json`` for the JSON string escapes, ``to_char`` for the
timestamp; see ``seal.sql``); ``details`` goes through
:func:`~examstutor_platform.audit.canonical.details_json` here, once per
distinct value. A test checks both against
:func:`~examstutor_platform.audit.canonical.canonical` on hostile text, and the
offline verifier recomputes every export with the reference code alone.

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
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from json.encoder import encode_basestring
from typing import Any, Final
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from examstutor_platform.audit.canonical import EXPORT_COLUMNS, details_json
from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import ChainBrokenError

__all__ = [
    "CHUNK_BYTES",
    "EXPORT_SCHEMA",
    "DayChain",
    "RowProgress",
    "copy_unescape",
    "day_bounds",
    "day_of",
    "stream_day",
]

QUERIES = load_queries("examstutor_platform.audit", "seal.sql")


def _day_rows(columns: str) -> str:
    """A business day's rows in seq order: ``columns``, details, canonical prefix/suffix."""
    # built once at import from constants of this module and seal.sql, never from input
    return (
        f"SELECT seq, {columns} details, {QUERIES['canonical_parts']} "  # noqa: S608
        "FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY seq"
    )


#: seq, details and the canonical parts: what the seal hashes
_DAY_CHAIN_ROWS = _day_rows("")
#: the export's columns too (occurred_at as microseconds since the epoch)
_DAY_EXPORT_ROWS = _day_rows(
    "(extract(epoch FROM occurred_at) * 1000000)::bigint AS occurred_us, actor_pseudonym,"
    " actor_role, action, resource, resource_id, outcome, severity, ip_prefix, request_id,"
)

#: COPY output handed to the worker at a time (whole rows; bounds memory)
CHUNK_BYTES: Final = 8 << 20

#: the Parquet schema of CONTRACT §6
EXPORT_SCHEMA: Final = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        *(pa.field(name, pa.string()) for name in EXPORT_COLUMNS[2:]),
    ]
)
_TEXT_COLUMNS: Final = EXPORT_COLUMNS[2:11]  # actor_pseudonym … request_id
_CHAIN_COLUMNS: Final = ("seq", "details", "prefix", "suffix")
_EXPORT_COLUMNS: Final = ("seq", "occurred_us", *_TEXT_COLUMNS, "details", "prefix", "suffix")
_PARSE = pcsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False)
_COPY_ESCAPE = re.compile(r"\\(.)", re.S)
_COPY_LETTERS: Final = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_DETAILS_CACHE_LIMIT: Final = 100_000

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
    if column.null_count == len(column) or not pc.any(pc.match_substring(column, "\\")).as_py():
        return column
    values = column.to_pylist()
    return pa.array([None if v is None else copy_unescape(v) for v in values], pa.string())


def _read_chunk(data: bytes, names: tuple[str, ...]) -> pa.Table:
    types: dict[str, pa.DataType] = {name: pa.string() for name in names}
    types["seq"] = pa.int64()
    if "occurred_us" in types:
        types["occurred_us"] = pa.int64()
    return pcsv.read_csv(
        pa.py_buffer(data),
        read_options=pcsv.ReadOptions(
            column_names=list(names), use_threads=False, block_size=len(data) + 1
        ),
        parse_options=_PARSE,
        convert_options=pcsv.ConvertOptions(
            column_types=types, null_values=["\\N"], strings_can_be_null=True
        ),
    )


def _column(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


class DayChain:
    """The chain over a day's rows: ``h_0`` = ``prev``, one :meth:`add` per chunk, in seq order."""

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

    def _check_order(self, seq: pa.Array) -> None:
        if seq.null_count:
            raise ChainBrokenError("a row without seq in the day's events", seq=self.last_seq)
        first = seq[0].as_py()
        if self.last_seq is not None and first <= self.last_seq:
            raise ChainBrokenError(
                f"seq {first} follows seq {self.last_seq}: repeated or out of order", seq=first
            )
        if len(seq) > 1:
            bad = pc.less_equal(seq.slice(1), seq.slice(0, len(seq) - 1))
            if pc.any(bad).as_py():
                index = pc.index(bad, True).as_py() + 1
                raise ChainBrokenError(
                    f"seq {seq[index].as_py()} follows seq {seq[index - 1].as_py()}: "
                    "repeated or out of order",
                    seq=seq[index].as_py(),
                )

    def add(self, table: pa.Table) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Chain one chunk; return its (seq, canonical details, chain_hash) arrays."""
        seq = _column(table, "seq")
        self._check_order(seq)
        details, literals = self._details_for(_column(table, "details"))
        lines = pc.binary_join_element_wise(
            _unescape_column(_column(table, "prefix")),
            literals,
            _unescape_column(_column(table, "suffix")),
            "",
        )
        _, offsets_buffer, data_buffer = lines.buffers()
        offsets = memoryview(offsets_buffer).cast("i")[lines.offset :]
        data = memoryview(data_buffer)
        sha256 = hashlib.sha256
        head = self._head
        digests: list[bytes] = []
        keep = digests.append
        start = offsets[0]
        for end in offsets[1 : len(lines) + 1]:
            head = sha256(head + data[start:end]).digest()
            keep(head)
            start = end
        self._head = head
        count = len(seq)
        if self.first_seq is None:
            self.first_seq = seq[0].as_py()
        self.last_seq = seq[count - 1].as_py()
        self.rows += count
        hex_text = b"".join(digests).hex().encode("ascii")
        hex_offsets = array("i", range(0, 64 * (count + 1), 64))
        chain_hash = pa.Array.from_buffers(
            pa.string(), count, [None, pa.py_buffer(hex_offsets), pa.py_buffer(hex_text)]
        )
        return seq, details, chain_hash


def _export_batch(
    table: pa.Table, seq: pa.Array, details: pa.Array, chain_hash: pa.Array
) -> pa.RecordBatch:
    occurred = _column(table, "occurred_us").cast(pa.timestamp("us", tz="UTC"))
    texts = [_unescape_column(_column(table, name)) for name in _TEXT_COLUMNS]
    return pa.RecordBatch.from_arrays(
        [seq, occurred, *texts, details, chain_hash], schema=EXPORT_SCHEMA
    )


@dataclass(frozen=True)
class _Chunk:
    rows: int


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

    ``on_batch`` gets each chunk's rows, in order, in the worker thread: a
    record batch of (``seq``, ``chain_hash``), or of :data:`EXPORT_SCHEMA` with
    ``with_columns``. The caller owns the transaction (the COPY is one
    statement, so it sees one snapshot either way).
    """
    names = _EXPORT_COLUMNS if with_columns else _CHAIN_COLUMNS
    query = _DAY_EXPORT_ROWS if with_columns else _DAY_CHAIN_ROWS

    def work(data: bytes) -> _Chunk:
        table = _read_chunk(data, names)
        if table.num_rows == 0:
            return _Chunk(0)
        seq, details, chain_hash = chain.add(table)
        if on_batch is not None:
            if with_columns:
                on_batch(_export_batch(table, seq, details, chain_hash))
            else:
                on_batch(pa.RecordBatch.from_arrays([seq, chain_hash], names=["seq", "chain_hash"]))
        return _Chunk(table.num_rows)

    loop = asyncio.get_running_loop()
    buffer = bytearray()
    pending: Awaitable[_Chunk] | None = None
    done = 0

    async def settle() -> None:
        nonlocal pending, done
        if pending is not None:
            result = await pending
            pending = None
            done += result.rows
            if progress is not None and result.rows:
                progress(done)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-day") as worker:

        async def submit(data: bytes) -> None:
            nonlocal pending
            await settle()  # one chunk in the worker, one filling: bounded memory
            pending = loop.run_in_executor(worker, work, data)

        async def sink(data: bytes) -> None:
            buffer.extend(data)
            if len(buffer) >= chunk_bytes:
                cut = buffer.rfind(b"\n") + 1
                if cut:
                    chunk = bytes(buffer[:cut])
                    del buffer[:cut]
                    await submit(chunk)

        try:
            await conn.copy_from_query(query, start, end, output=sink, format="text")
            if buffer:
                await submit(bytes(buffer))
                buffer.clear()
            await settle()
        finally:
            if pending is not None:  # an error mid-stream: let the worker finish first
                await asyncio.gather(pending, return_exceptions=True)
    return chain

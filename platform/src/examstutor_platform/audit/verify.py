"""Verification of the sealed audit log (from the database) and of exported days (offline).

:func:`verify_days` recomputes the chain of every sealed day in a range from
the events in the database and checks each seal: its signature, its link to
the previous day's head, its head, row count and seq range, and that no seal
is missing between sealed days. It stops at the first bad day and names the
first bad ``seq`` as precisely as the evidence allows:

- a row added to a sealed day (a back-dated insert) — its seq;
- a row altered — its seq, found by comparing the database with that day's
  export (the per-row ``chain_hash`` values an auditor holds);
- a row deleted — the seq of the missing row, from the export;
- without an export of the day, an altered or deleted row is placed only
  within the day: the day's first sealed seq is reported, with the range.

Days older than the audit log's retention (7 years) whose partitions were
dropped keep their seals; their signatures and links are checked, their rows
no longer exist to recompute.

:func:`verify_export` needs no database: the manifest's signature under the
public key, every file's size, SHA-256 and row count, the schema, and the
chain recomputed from the Parquet rows with the reference
:func:`~examstutor_platform.audit.chain.verify_chain` from ``chain.prev`` to
``chain.head``, with the seq range and total rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq

from examstutor_platform.audit.chain import GENESIS, verify_chain
from examstutor_platform.audit.export import (
    ExportFileError,
    ManifestError,
    day_folder,
    read_manifest,
)
from examstutor_platform.audit.seal import (
    SealRecord,
    first_foreign_seq,
    seal_before,
    seals_between,
)
from examstutor_platform.audit.signing import PublicKeyLike, Signer, verify_manifest
from examstutor_platform.audit.stream import (
    EXPORT_SCHEMA,
    QUERIES,
    DayChain,
    day_bounds,
    day_of,
    stream_day,
)
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.errors import (
    AuditError,
    ChainBrokenError,
    PlatformError,
    SignatureError,
)
from examstutor_platform.settings import Settings

__all__ = [
    "ExportCheck",
    "VerifyProgress",
    "VerifyResult",
    "verify_days",
    "verify_export",
]

#: called with (days checked, days to check, events checked so far)
VerifyProgress = Callable[[int, int, int], None]
_AUDIT_RETENTION: Final = timedelta(days=7 * 366)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify_days`; ``first_bad_seq`` and ``problem`` when not intact."""

    intact: bool
    days: int
    events: int
    first_day: date | None
    last_day: date | None
    bad_day: date | None = None
    first_bad_seq: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class _Finding:
    seq: int | None
    problem: str


async def verify_days(
    conn: DbConnection,
    settings: Settings,
    from_day: date | None = None,
    to_day: date | None = None,
    progress: VerifyProgress | None = None,
    *,
    public_key: PublicKeyLike | None = None,
    export_dir: Path | None = None,
    now: datetime | None = None,
) -> VerifyResult:
    """Check the sealed days ``from_day`` … ``to_day`` (default: all) against the database."""
    first_sealed = await conn.fetchval(QUERIES["first_sealed_day"])
    if first_sealed is None:
        return VerifyResult(True, 0, 0, None, None)
    first: date = from_day or first_sealed
    last: date = to_day or await conn.fetchval(QUERIES["last_sealed_day"])
    if first > last:
        raise AuditError(f"nothing to verify: {first} is after {last}")
    key = public_key if public_key is not None else Signer(settings.signing_key).public_key
    exports = export_dir or settings.export_dir
    seals = await seals_between(conn, first, last)
    anchor = await seal_before(conn, first)
    oldest = await conn.fetchval(QUERIES["oldest_partition_start"])
    floor = (now or datetime.now(UTC)) - _AUDIT_RETENTION
    events = 0
    days = 0

    def result(seal: SealRecord, finding: _Finding) -> VerifyResult:
        return VerifyResult(
            False, days, events, first, last, seal.day, finding.seq, finding.problem
        )

    if anchor is None and seals:
        finding = await _before_first(conn, seals[0], oldest, floor)
        if finding is not None:
            return result(seals[0], finding)
    previous = anchor
    for seal in seals:
        finding = _check_seal(seal, previous, key)
        if finding is None:
            tz = ZoneInfo(seal.timezone)
            start, end = day_bounds(seal.day, tz)
            if not (end <= floor and (oldest is None or start < oldest)):
                report = _day_progress(progress, days, len(seals), events)
                finding, rows = await _recompute(conn, seal, start, end, exports, report)
                events += rows
        if finding is not None:
            return result(seal, finding)
        days += 1
        previous = seal
        if progress is not None:
            progress(days, len(seals), events)
    return VerifyResult(True, days, events, first, last)


def _day_progress(
    progress: VerifyProgress | None, days: int, total: int, events: int
) -> Callable[[int], None]:
    def report(rows: int) -> None:
        if progress is not None:
            progress(days, total, events + rows)

    return report


async def _before_first(
    conn: DbConnection, seal: SealRecord, oldest: datetime | None, floor: datetime
) -> _Finding | None:
    """An event older than the first sealed day (outside expired partitions) is foreign."""
    start, _ = day_bounds(seal.day, ZoneInfo(seal.timezone))
    row = await conn.fetchrow(QUERIES["earliest_event_before"], start)
    if row is None or row["occurred_at"] < floor:
        return None
    return _Finding(
        row["seq"],
        f"seq {row['seq']} is dated {day_of(row['occurred_at'], ZoneInfo(seal.timezone))}, "
        f"before the first sealed day {seal.day}: it was inserted after the log was sealed",
    )


def _check_seal(
    seal: SealRecord, previous: SealRecord | None, key: PublicKeyLike
) -> _Finding | None:
    """Signature, continuity and linkage of one seal."""
    if previous is not None and seal.day != previous.day + timedelta(days=1):
        return _Finding(
            seal.first_seq,
            f"{previous.day + timedelta(days=1)} has no seal, but {previous.day} and "
            f"{seal.day} do: a seal is missing",
        )
    try:
        seal.check_signature(key)
    except SignatureError as exc:
        return _Finding(seal.first_seq, str(exc))
    expected = previous.head if previous is not None else GENESIS
    if seal.prev_head != expected:
        before = f"the head of {previous.day}" if previous is not None else "the genesis"
        return _Finding(
            seal.first_seq,
            f"the seal of {seal.day} starts from {seal.prev_head[:16]}…, not from {before} "
            f"({expected[:16]}…)",
        )
    return None


async def _recompute(
    conn: DbConnection,
    seal: SealRecord,
    start: datetime,
    end: datetime,
    exports: Path,
    report: Callable[[int], None],
) -> tuple[_Finding | None, int]:
    """Chain the day from the database and compare it with its seal; (finding, rows)."""
    chain = DayChain(seal.prev_head)
    try:
        async with conn.transaction():
            await stream_day(conn, start, end, chain, progress=report)
            return await _compare(conn, seal, chain, start, end, exports), chain.rows
    except ChainBrokenError as exc:  # seq repeated or out of order in the database
        return _Finding(exc.seq, f"day {seal.day}: {exc}"), chain.rows


async def _compare(
    conn: DbConnection,
    seal: SealRecord,
    chain: DayChain,
    start: datetime,
    end: datetime,
    exports: Path,
) -> _Finding | None:
    """None if the recomputed day matches its seal; otherwise where it first differs."""
    if (chain.head, chain.rows, chain.first_seq, chain.last_seq) == (
        seal.head,
        seal.rows,
        seal.first_seq,
        seal.last_seq,
    ):
        return None
    summary = (
        f"day {seal.day}: the database gives {chain.rows} rows (seq {chain.first_seq}–"
        f"{chain.last_seq}, head {chain.head[:16]}…), the seal says {seal.rows} rows "
        f"(seq {seal.first_seq}–{seal.last_seq}, head {seal.head[:16]}…)"
    )
    located = await _locate_with_export(conn, seal, start, end, exports)
    if located is not None:
        return _Finding(located.seq, f"{located.problem}; {summary}")
    foreign = await first_foreign_seq(conn, seal, start, end)
    if foreign is not None:
        return _Finding(
            foreign, f"seq {foreign} lies outside the sealed seq range of the day; {summary}"
        )
    return _Finding(
        seal.first_seq,
        f"a row of seq {seal.first_seq}–{seal.last_seq} was altered or deleted, and no export "
        f"of {seal.day} is at hand to narrow it down; {summary}",
    )


def _export_rows(folder: Path, files: list[dict[str, Any]]) -> Iterator[tuple[int, str]]:
    for entry in files:
        parquet = pq.ParquetFile(folder / str(entry["name"]))
        for batch in parquet.iter_batches(batch_size=8192, columns=["seq", "chain_hash"]):
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)


async def _locate_with_export(
    conn: DbConnection, seal: SealRecord, start: datetime, end: datetime, exports: Path
) -> _Finding | None:
    """Compare the database's rows with the day's export, row by row, if it is trustworthy."""
    folder = day_folder(exports, seal.day)
    try:
        manifest = read_manifest(folder)
        head = (manifest.get("chain") or {}).get("head")
        if head != seal.head:
            return None
        files = list(manifest["files"])
        exported = _export_rows(folder, files)
    except (PlatformError, OSError, KeyError, TypeError):
        return None
    found: list[_Finding] = []

    def compare(batch: pa.RecordBatch) -> None:
        if found:
            return
        for seq, chain_hash in zip(
            batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
        ):
            want = next(exported, None)
            if want is None:
                found.append(_Finding(seq, f"seq {seq} is not in the sealed and exported day"))
            elif seq > want[0]:
                found.append(_Finding(want[0], f"seq {want[0]} was deleted after sealing"))
            elif seq < want[0]:
                found.append(_Finding(seq, f"seq {seq} is not in the sealed and exported day"))
            elif chain_hash != want[1]:
                found.append(_Finding(seq, f"seq {seq} was altered after sealing"))
            if found:
                return

    try:
        async with conn.transaction():
            await stream_day(conn, start, end, DayChain(seal.prev_head), on_batch=compare)
        if not found:
            missing = next(exported, None)
            if missing is not None:
                found.append(_Finding(missing[0], f"seq {missing[0]} was deleted after sealing"))
    except (OSError, pa.ArrowException, ChainBrokenError):
        return None
    return found[0] if found else None


@dataclass(frozen=True)
class ExportCheck:
    """What :func:`verify_export` found intact."""

    day: str
    rows: int
    files: int
    first_seq: int | None
    last_seq: int | None
    prev: str
    head: str


def _manifest_fields(
    folder: Path, manifest: dict[str, Any]
) -> tuple[list[dict[str, Any]], str, str]:
    try:
        files = [dict(entry) for entry in manifest["files"]]
        for entry in files:
            for name in ("name", "sha256", "rows", "bytes"):
                if name not in entry:
                    raise KeyError(name)
        chain = manifest["chain"]
        prev, head = str(chain["prev"]), str(chain["head"])
        int(manifest["rows"])
        date.fromisoformat(str(manifest["date"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ManifestError(f"{folder / 'manifest.json'} lacks or garbles {exc}") from None
    return files, prev, head


def _check_files(folder: Path, files: list[dict[str, Any]], total: int) -> None:
    listed = {str(entry["name"]) for entry in files}
    unlisted = sorted(p.name for p in folder.glob("*.parquet") if p.name not in listed)
    if unlisted:
        raise ExportFileError(f"{folder / unlisted[0]} is not listed in the manifest")
    for entry in files:
        path = folder / str(entry["name"])
        if path.name != str(entry["name"]) or not path.is_file():
            raise ExportFileError(f"{path} is listed in the manifest but missing")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise ExportFileError(
                f"{path.name} is {size} bytes, the manifest says {entry['bytes']}"
            )
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != entry["sha256"]:
            raise ExportFileError(
                f"{path.name} has SHA-256 {digest.hexdigest()[:16]}…, the manifest says "
                f"{str(entry['sha256'])[:16]}…: the file was changed"
            )
    if sum(int(entry["rows"]) for entry in files) != total:
        raise ManifestError(f"the files' rows do not add up to the manifest's {total} rows")


def _rows(folder: Path, files: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every row of the day's files, in order, checking each file's schema and row count."""
    for entry in files:
        try:
            parquet = pq.ParquetFile(folder / str(entry["name"]))
        except pa.ArrowException as exc:
            raise ExportFileError(
                f"{entry['name']} is not a readable Parquet file: {exc}"
            ) from None
        if not parquet.schema_arrow.remove_metadata().equals(EXPORT_SCHEMA, check_metadata=False):
            raise ExportFileError(f"{entry['name']} does not have the export schema")
        count = 0
        for batch in parquet.iter_batches(batch_size=8192):
            count += batch.num_rows
            yield from batch.to_pylist()
        if count != entry["rows"]:
            raise ExportFileError(
                f"{entry['name']} holds {count} rows, the manifest says {entry['rows']}"
            )


def check_export_chain(
    folder: Path, manifest: dict[str, Any]
) -> tuple[int, int | None, int | None]:
    """Recompute the chain from the Parquet rows; return (rows, first seq, last seq).

    :class:`~examstutor_platform.errors.ChainBrokenError` names the first row
    whose ``chain_hash`` is not what its predecessor and content give.
    """
    files, prev, head = _manifest_fields(folder, manifest)
    seen = {"rows": 0, "first": None, "last": None}

    def counted() -> Iterator[dict[str, Any]]:
        for row in _rows(folder, files):
            if seen["first"] is None:
                seen["first"] = row["seq"]
            seen["last"] = row["seq"]
            seen["rows"] = int(seen["rows"] or 0) + 1
            yield row

    verify_chain(prev, counted(), expected_head=head)
    return int(seen["rows"] or 0), seen["first"], seen["last"]


def verify_export(folder: Path, public_key: PublicKeyLike) -> ExportCheck:
    """Check one exported day folder offline; raise a typed error saying what failed."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_manifest(manifest, public_key)
    files, prev, head = _manifest_fields(folder, manifest)
    try:
        if date.fromisoformat(folder.name).isoformat() != manifest["date"]:
            raise ManifestError(
                f"the folder is named {folder.name} but its manifest is for {manifest['date']}"
            )
    except ValueError:
        pass  # a folder renamed by the auditor: the signed date is what counts
    total = int(manifest["rows"])
    _check_files(folder, files, total)
    rows, first_seq, last_seq = check_export_chain(folder, manifest)
    if rows != total:
        raise ManifestError(f"the files hold {rows} rows, the manifest says {total}")
    if (first_seq, last_seq) != (manifest.get("first_seq"), manifest.get("last_seq")):
        raise ManifestError(
            f"the rows run from seq {first_seq} to {last_seq}, the manifest says "
            f"{manifest.get('first_seq')} to {manifest.get('last_seq')}"
        )
    return ExportCheck(str(manifest["date"]), rows, len(files), first_seq, last_seq, prev, head)

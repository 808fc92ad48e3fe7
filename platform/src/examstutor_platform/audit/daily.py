"""Sealing and exporting a business day in one read of its events.

The daily run seals a day (:mod:`~examstutor_platform.audit.seal`) and exports
it (:mod:`~examstutor_platform.audit.export`); done one after the other, each
reads the whole day out of the database. :func:`seal_and_export_day` reads it
once when the day is not sealed yet: the rows chained for the seal are the
rows written to Parquet in the same pass, so the export's chain is the seal's
by construction. The seal's rules hold (days in order, the safety margin, one
sealer at a time) and so do the export's guarantees (atomic publication, the
manifest linked to the previous day's, a day folder never overwritten).

The steps, each safe to interrupt:

1. holding the day's export lock (for the session) and the sealing lock (for
   the transaction), stream the events into Parquet files in a hidden folder
   and chain them;
2. insert the seal row and commit: the day is sealed;
3. write and fsync the signed manifest beside the files, rename the hidden
   folder to the day's folder, release the export lock.

A run killed before 2 commits leaves no seal, only a hidden folder that the
next run removes. A run killed after it leaves a sealed day without an
export; the next run finds the seal and takes the separate paths:
``seal_day`` recomputes the day against its seal, ``export_day`` removes the
hidden folder and exports the day again, publishing only if its recomputed
chain gives the sealed head. A day sealed earlier always takes those
separate, checked paths. Files that cannot be written (a full disk, say) do
not keep the day from being sealed: the day is then sealed on its own and
the export's error raised.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.export import (
    EXPORT_LOCK_KEY,
    ROWS_PER_FILE,
    ExportError,
    ExportResult,
    existing_export,
    export_day,
    export_result,
    publish,
    temp_folder,
    write_day_files,
    write_manifest,
)
from examstutor_platform.audit.seal import (
    SAFETY_MARGIN,
    SEAL_LOCK_KEY,
    SealResult,
    check_day_over,
    check_sealing_order,
    days_to_seal,
    load_seal,
    seal_before,
    seal_day,
    store_seal,
)
from examstutor_platform.audit.signing import Signer
from examstutor_platform.audit.stream import CHUNK_BYTES, QUERIES, DayChain, RowProgress
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.retention.policy import load_policy
from examstutor_platform.settings import Settings

__all__ = ["DayResult", "seal_and_export_day", "seal_and_export_through"]


@dataclass(frozen=True)
class DayResult:
    """What :func:`seal_and_export_day` did: the day's seal and its export."""

    seal: SealResult
    export: ExportResult


async def seal_and_export_day(
    conn: DbConnection,
    settings: Settings,
    day: date,
    export_dir: Path | None = None,
    run_id: str | None = None,
    *,
    rows_per_file: int = ROWS_PER_FILE,
    progress: RowProgress | None = None,
    now: datetime | None = None,
    margin: timedelta = SAFETY_MARGIN,
    chunk_bytes: int = CHUNK_BYTES,
) -> DayResult:
    """Seal ``day`` and export it into ``export_dir`` (default ``settings.export_dir``).

    One read of the day when it is not sealed yet; otherwise ``seal_day``
    (which re-checks the seal) then ``export_day`` (a no-op when the day's
    folder exists). Raises what those raise: :class:`SealError` when the day
    cannot be sealed yet, :class:`ChainBrokenError` when a sealed day no longer
    gives its head, :class:`ExportError` when the day's folder holds another
    export; an error writing the files (``OSError``, ``ExportError``) is
    raised once the day is sealed all the same.
    """
    check_day_over(day, settings, now=now, margin=margin)
    if await load_seal(conn, day) is None:
        try:
            done = await _one_pass(
                conn,
                settings,
                day,
                export_dir or settings.export_dir,
                run_id,
                rows_per_file=rows_per_file,
                progress=progress,
                chunk_bytes=chunk_bytes,
            )
        except (OSError, ExportError, pa.ArrowException):
            # the export failed; the seal must not wait for it
            if await load_seal(conn, day) is None:
                await seal_day(conn, settings, day, run_id, now=now, margin=margin)
            raise
        if done is not None:
            return done
    seal = await seal_day(conn, settings, day, run_id, progress=progress, now=now, margin=margin)
    export = await export_day(
        conn,
        settings,
        day,
        export_dir,
        run_id,
        rows_per_file=rows_per_file,
        progress=progress,
        chunk_bytes=chunk_bytes,
    )
    return DayResult(seal, export)


async def seal_and_export_through(
    conn: DbConnection,
    settings: Settings,
    day: date,
    run_id: str | None,
    export_dir: Path | None = None,
    *,
    now: datetime | None = None,
) -> list[DayResult]:
    """:func:`seal_and_export_day` for every unsealed day before ``day``, in order, then ``day``."""
    return [
        await seal_and_export_day(conn, settings, current, export_dir, run_id, now=now)
        for current in await days_to_seal(conn, settings, day)
    ]


@contextlib.asynccontextmanager
async def _export_lock(conn: DbConnection, day: date) -> AsyncIterator[None]:
    """The day's export lock, held by the session across the seal's commit."""
    await conn.execute(QUERIES["hold_export_day"], EXPORT_LOCK_KEY, day.toordinal())
    try:
        yield
    except BaseException:
        # a broken connection has released the lock with itself: keep the first error
        with contextlib.suppress(Exception):
            await conn.execute(QUERIES["release_export_day"], EXPORT_LOCK_KEY, day.toordinal())
        raise
    await conn.execute(QUERIES["release_export_day"], EXPORT_LOCK_KEY, day.toordinal())


async def _one_pass(
    conn: DbConnection,
    settings: Settings,
    day: date,
    export_dir: Path,
    run_id: str | None,
    *,
    rows_per_file: int,
    progress: RowProgress | None,
    chunk_bytes: int,
) -> DayResult | None:
    """Seal and export an unsealed day in one read; None if another run sealed it meanwhile."""
    root = export_dir / "audit"
    final = root / day.isoformat()
    signer = Signer(settings.signing_key)
    policy_version = load_policy().version
    temp: Path | None = None
    async with _export_lock(conn, day):
        try:
            async with conn.transaction():
                await conn.execute(QUERIES["lock_sealing"], SEAL_LOCK_KEY)
                if await load_seal(conn, day) is not None:
                    return None
                previous = await seal_before(conn, day)
                await check_sealing_order(conn, day, previous, settings)
                chain = DayChain(previous.head if previous is not None else GENESIS)
                temp = temp_folder(root, day, run_id)
                files = await write_day_files(
                    conn,
                    settings,
                    day,
                    chain,
                    temp,
                    rows_per_file=rows_per_file,
                    progress=progress,
                    chunk_bytes=chunk_bytes,
                )
                record = await store_seal(
                    conn, settings, signer, day, chain, policy_version, run_id
                )
            # committed: the day is sealed
            sealed = SealResult.of(record, created=True)
            if final.exists():  # a folder of this day from elsewhere: kept, held to the seal
                shutil.rmtree(temp, ignore_errors=True)
                return DayResult(sealed, existing_export(final, record))
            manifest = write_manifest(temp, record, files, signer)
            publish(temp, final)
        except BaseException:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)
            raise
    return DayResult(sealed, export_result(record, final, files, manifest))

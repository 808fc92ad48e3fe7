"""The daily audit export: a sealed day's events as Parquet files and a signed manifest.

``EXPORT_DIR/audit/YYYY-MM-DD/`` holds ``events-NNNN.parquet`` (zstd, at most
:data:`ROWS_PER_FILE` rows each) and ``manifest.json`` (CONTRACT §6). The rows
are streamed out of the database in bounded memory and chained again as they
are written; the export fails unless that chain ends at the sealed head.

Publication is atomic: everything is written into a hidden folder
``audit/.tmp-YYYY-MM-DD-…``, each file and the folder are fsynced, and the
folder is renamed to its final name. A run killed midway leaves only the
hidden folder, which the next run for that day removes before starting again.
A day folder that exists already is kept when its manifest carries the sealed
head (re-running is a no-op) and is an error otherwise. A day that is not
sealed yet is sealed and exported in one read by
:func:`~examstutor_platform.audit.daily.seal_and_export_day`, with the
helpers below.

``manifest.json`` is pretty-printed JSON with sorted keys and a final newline;
every value in it is canonical-JSON ready, so its signature covers
``canonical_json`` of the manifest without ``signature``. The next day's
``prev_manifest_sha256`` is the SHA-256 of these bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from examstutor_platform.audit.canonical import format_timestamp
from examstutor_platform.audit.parquet_files import (
    ROWS_PER_FILE,
    ExportFile,
    ParquetFiles,
    fsync_path,
)
from examstutor_platform.audit.seal import SealRecord, load_seal
from examstutor_platform.audit.signing import Signer, sign_manifest
from examstutor_platform.audit.stream import (
    CHUNK_BYTES,
    QUERIES,
    DayChain,
    RowProgress,
    day_bounds,
    stream_day,
)
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.errors import AuditError, ChainBrokenError
from examstutor_platform.settings import Settings

__all__ = [
    "EXPORT_FORMAT",
    "GENERATOR",
    "MANIFEST",
    "ROWS_PER_FILE",
    "ExportError",
    "ExportFile",
    "ExportFileError",
    "ExportResult",
    "ManifestError",
    "day_folder",
    "existing_export",
    "export_day",
    "export_result",
    "publish",
    "read_manifest",
    "temp_folder",
    "write_day_files",
    "write_manifest",
]

EXPORT_FORMAT: Final = "examstutor-audit-export/1"
GENERATOR: Final = "examstutor-pipelines 0.1.0"
MANIFEST: Final = "manifest.json"
#: advisory lock key (int4) that serialises exporters of one day ("esxp")
EXPORT_LOCK_KEY: Final = 0x65737870


class ExportError(AuditError):
    """An export cannot be written, or an exported day does not match its manifest."""


class ManifestError(ExportError):
    """A manifest is missing, unreadable or not in the export format."""


class ExportFileError(ExportError):
    """An exported file is missing, unlisted, or differs from its manifest entry."""


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_day` did: the published day folder, and whether this run wrote it."""

    day: date
    folder: Path
    rows: int
    first_seq: int | None
    last_seq: int | None
    prev: str
    head: str
    files: tuple[ExportFile, ...]
    manifest_sha256: str
    created: bool


def day_folder(export_dir: Path, day: date) -> Path:
    """``export_dir/audit/YYYY-MM-DD``."""
    return export_dir / "audit" / day.isoformat()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a day folder; :class:`ManifestError` if it is missing or not JSON."""
    path = folder / MANIFEST
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist: not an exported day") from None
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path} is not a JSON object")
    if manifest.get("format") != EXPORT_FORMAT:
        raise ManifestError(f"{path} has format {manifest.get('format')!r}, not {EXPORT_FORMAT!r}")
    return manifest


def existing_export(folder: Path, seal: SealRecord) -> ExportResult:
    """The result for a published day folder matching the seal; :class:`ExportError` if not."""
    manifest = read_manifest(folder)
    chain = manifest.get("chain") or {}
    if chain.get("head") != seal.head or chain.get("prev") != seal.prev_head:
        raise ExportError(
            f"{folder} exists with chain head {str(chain.get('head'))[:16]}…, but the seal of "
            f"{seal.day} says {seal.head[:16]}…: move the folder aside and export the day again"
        )
    if manifest.get("rows") != seal.rows:
        raise ExportError(
            f"{folder} lists {manifest.get('rows')} rows, but the seal of {seal.day} says "
            f"{seal.rows}: move the folder aside and export the day again"
        )
    files = [
        ExportFile(str(f["name"]), str(f["sha256"]), int(f["rows"]), int(f["bytes"]))
        for f in manifest.get("files", [])
    ]
    return export_result(seal, folder, files, (folder / MANIFEST).read_bytes(), created=False)


def _previous_manifest_sha256(root: Path, seal: SealRecord) -> str | None:
    """SHA-256 of the previous day's manifest bytes, checked against this day's chain start."""
    folder = root / (seal.day - timedelta(days=1)).isoformat()
    if not (folder / MANIFEST).exists():
        return None
    data = (folder / MANIFEST).read_bytes()
    head = (read_manifest(folder).get("chain") or {}).get("head")
    if head != seal.prev_head:
        raise ExportError(
            f"the export of {folder.name} ends at {str(head)[:16]}…, but the seal of {seal.day} "
            f"starts from {seal.prev_head[:16]}…: the exported days do not link"
        )
    return hashlib.sha256(data).hexdigest()


def temp_folder(root: Path, day: date, run_id: str | None) -> Path:
    """A new hidden folder under ``root`` to write ``day``'s export into, stale ones removed.

    Call it holding the day's export lock: a hidden folder of that day is then
    what a killed run left behind."""
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".tmp-{day.isoformat()}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tag = re.sub(r"[^A-Za-z0-9_-]", "", run_id or "")[:40]
    temp = root / f".tmp-{day.isoformat()}-{tag or 'run'}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    return temp


def _check_against_seal(chain: DayChain, seal: SealRecord) -> None:
    if (chain.head, chain.rows, chain.first_seq, chain.last_seq) != (
        seal.head,
        seal.rows,
        seal.first_seq,
        seal.last_seq,
    ):
        raise ChainBrokenError(
            f"the events of {seal.day} give {chain.rows} rows (seq {chain.first_seq}–"
            f"{chain.last_seq}, head {chain.head[:16]}…) but the seal says {seal.rows} rows "
            f"(seq {seal.first_seq}–{seal.last_seq}, head {seal.head[:16]}…): nothing was "
            f"published; run `examstutor audit verify --from {seal.day} --to {seal.day}`",
            seq=seal.first_seq,
        )


def _manifest(
    seal: SealRecord, files: list[ExportFile], prev_sha: str | None, signer: Signer
) -> dict[str, Any]:
    body: Mapping[str, Any] = {
        "format": EXPORT_FORMAT,
        "date": seal.day.isoformat(),
        "timezone": seal.timezone,
        "files": [entry.as_json() for entry in files],
        "rows": seal.rows,
        "first_seq": seal.first_seq,
        "last_seq": seal.last_seq,
        "chain": {"algorithm": "sha256", "prev": seal.prev_head, "head": seal.head},
        "prev_manifest_sha256": prev_sha,
        "policy_version": seal.policy_version,
        "generated_at": format_timestamp(datetime.now(UTC)),
        "generator": GENERATOR,
    }
    return sign_manifest(body, signer)


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The bytes of ``manifest.json``: sorted keys, two-space indent, UTF-8, final newline."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


async def write_day_files(
    conn: DbConnection,
    settings: Settings,
    day: date,
    chain: DayChain,
    temp: Path,
    *,
    rows_per_file: int = ROWS_PER_FILE,
    progress: RowProgress | None = None,
    on_file: Callable[[ExportFile], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[ExportFile]:
    """Stream ``day``'s events into Parquet files in ``temp``, chaining them onto ``chain``.

    The files are closed and fsynced; ``chain`` then holds the day's head.
    """
    writer = ParquetFiles(temp, rows_per_file)
    reported = 0

    def report(rows: int) -> None:
        nonlocal reported
        if on_file is not None:
            for entry in writer.files[reported:]:
                on_file(entry)
        reported = len(writer.files)
        if progress is not None:
            progress(rows)

    start, end = day_bounds(day, settings.tz)
    await stream_day(
        conn,
        start,
        end,
        chain,
        on_batch=writer.write,
        with_columns=True,
        progress=report,
        chunk_bytes=chunk_bytes,
    )
    files = writer.close()
    if on_file is not None:
        for entry in files[reported:]:
            on_file(entry)
    return files


def write_manifest(temp: Path, seal: SealRecord, files: list[ExportFile], signer: Signer) -> bytes:
    """Sign and write ``temp/manifest.json`` for the files of the sealed day; fsync the folder.

    The previous day's export, if any, must end where ``seal`` starts."""
    manifest = _manifest(seal, files, _previous_manifest_sha256(temp.parent, seal), signer)
    data = manifest_bytes(manifest)
    (temp / MANIFEST).write_bytes(data)
    fsync_path(temp / MANIFEST)
    fsync_path(temp)
    return data


def publish(temp: Path, final: Path) -> None:
    """Rename the finished hidden folder to the day's folder (atomic), durably."""
    temp.rename(final)
    fsync_path(final.parent)


def export_result(
    seal: SealRecord,
    folder: Path,
    files: list[ExportFile],
    manifest: bytes,
    *,
    created: bool = True,
) -> ExportResult:
    """The result of a day folder (written by this run unless ``created`` is False)."""
    return ExportResult(
        day=seal.day,
        folder=folder,
        rows=seal.rows,
        first_seq=seal.first_seq,
        last_seq=seal.last_seq,
        prev=seal.prev_head,
        head=seal.head,
        files=tuple(files),
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        created=created,
    )


async def export_day(
    conn: DbConnection,
    settings: Settings,
    day: date,
    export_dir: Path | None = None,
    run_id: str | None = None,
    *,
    rows_per_file: int = ROWS_PER_FILE,
    progress: RowProgress | None = None,
    on_file: Callable[[ExportFile], None] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> ExportResult:
    """Export the sealed ``day`` into ``export_dir`` (default ``settings.export_dir``).

    Raises :class:`ExportError` when the day is not sealed or its folder holds
    another export, :class:`ChainBrokenError` when the events no longer give the
    sealed head (nothing is published then). ``progress`` gets the rows written
    so far; ``on_file`` each finished Parquet file (both from the event loop's
    thread, after each chunk of ``chunk_bytes`` of database output).
    """
    seal = await load_seal(conn, day)
    if seal is None:
        raise ExportError(f"day {day} is not sealed: seal it (audit_seal) before exporting it")
    root = (export_dir or settings.export_dir) / "audit"
    final = root / day.isoformat()
    if final.exists():
        return existing_export(final, seal)
    signer = Signer(settings.signing_key)
    async with conn.transaction():
        await conn.execute(QUERIES["lock_export_day"], EXPORT_LOCK_KEY, day.toordinal())
        if final.exists():  # another exporter published it while we waited
            return existing_export(final, seal)
        temp = temp_folder(root, day, run_id)
        try:
            chain = DayChain(seal.prev_head)
            files = await write_day_files(
                conn,
                settings,
                day,
                chain,
                temp,
                rows_per_file=rows_per_file,
                progress=progress,
                on_file=on_file,
                chunk_bytes=chunk_bytes,
            )
            _check_against_seal(chain, seal)
            data = write_manifest(temp, seal, files, signer)
            publish(temp, final)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
    return export_result(seal, final, files, data)

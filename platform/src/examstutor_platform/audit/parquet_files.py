"""The Parquet files of an exported day: ``events-NNNN.parquet``, zstd, fsynced (CONTRACT §6).

:class:`ParquetFiles` takes the day's record batches in order and starts a new
file every :data:`ROWS_PER_FILE` rows; each finished file is closed, fsynced and
described by an :class:`ExportFile` (name, SHA-256, rows, bytes) for the manifest.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from examstutor_platform.audit.stream import EXPORT_SCHEMA

__all__ = ["ROWS_PER_FILE", "ExportFile", "ParquetFiles", "fsync_path"]

#: rows per Parquet file before the next file starts
ROWS_PER_FILE: Final = 250_000
#: rows gathered into one Parquet row group
_ROW_GROUP: Final = 65_536
_DICTIONARY_COLUMNS: Final = [
    "actor_pseudonym",
    "actor_role",
    "action",
    "resource",
    "resource_id",
    "outcome",
    "severity",
    "ip_prefix",
]


@dataclass(frozen=True)
class ExportFile:
    """One Parquet file of an exported day, as its manifest lists it."""

    name: str
    sha256: str
    rows: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"name": self.name, "sha256": self.sha256, "rows": self.rows, "bytes": self.bytes}


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class ParquetFiles:
    """Writes record batches into ``events-NNNN.parquet`` files of at most ``rows_per_file``."""

    def __init__(self, folder: Path, rows_per_file: int) -> None:
        if rows_per_file < 1:
            raise ValueError("rows_per_file must be at least 1")
        self.folder = folder
        self.rows_per_file = rows_per_file
        self.files: list[ExportFile] = []
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Add rows (called in order, from one thread at a time)."""
        while batch.num_rows:
            if self._writer is None:
                self._open()
            room = self.rows_per_file - self._rows - self._pending_rows
            part, batch = batch.slice(0, room), batch.slice(room)
            self._pending.append(part)
            self._pending_rows += part.num_rows
            if self._pending_rows >= _ROW_GROUP:
                self._flush()
            if self._rows + self._pending_rows >= self.rows_per_file:
                self._close()

    def _open(self) -> None:
        self._path = self.folder / f"events-{len(self.files):04d}.parquet"
        self._writer = pq.ParquetWriter(
            self._path,
            EXPORT_SCHEMA,
            compression="zstd",
            use_dictionary=_DICTIONARY_COLUMNS,
        )
        self._rows = 0

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            self._writer.write_table(
                pa.Table.from_batches(self._pending, schema=EXPORT_SCHEMA),
                row_group_size=_ROW_GROUP * 2,
            )
            self._rows += self._pending_rows
        self._pending = []
        self._pending_rows = 0

    def _close(self) -> None:
        self._flush()
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        self._writer = None
        fsync_path(self._path)
        sha256, size = _file_digest(self._path)
        self.files.append(ExportFile(self._path.name, sha256, self._rows, size))

    def close(self) -> list[ExportFile]:
        """Finish the last file; return every file written."""
        self._close()
        return list(self.files)

"""Exporting a sealed day: Parquet + signed manifest, published atomically, idempotent."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pyarrow.parquet as pq
import pytest
from examstutor_audit_days import (
    audit_env,
    audit_settings,
    ensure_partitions,
    insert_events,
    lagos,
    spread,
    triggers_disabled,
)

from examstutor_platform.audit.canonical import canonical_json
from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.export import (
    EXPORT_FORMAT,
    GENERATOR,
    ExportError,
    day_folder,
    export_day,
    read_manifest,
)
from examstutor_platform.audit.seal import seal_day
from examstutor_platform.audit.signing import Signer, verify_manifest
from examstutor_platform.audit.stream import EXPORT_SCHEMA
from examstutor_platform.audit.verify import verify_export
from examstutor_platform.errors import ChainBrokenError
from examstutor_platform.retention import load_policy

DAY = date(2025, 3, 10)
NEXT = DAY + timedelta(days=1)


async def _two_sealed_days(conn: asyncpg.Connection, home: Path) -> None:
    settings = audit_settings(home)
    await ensure_partitions(conn, DAY, NEXT + timedelta(days=1))
    await insert_events(conn, spread(lagos(DAY, 21, 0), timedelta(hours=5), 5000), hostile=True)
    await seal_day(conn, settings, DAY, "seal-1")
    await seal_day(conn, settings, NEXT, "seal-2")


async def test_round_trip_seal_export_verify(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)
    result = await export_day(conn, settings, DAY, run_id="export-1", rows_per_file=1000)
    seal = await conn.fetchrow("SELECT * FROM audit_seals WHERE day = $1", DAY)
    assert seal is not None
    assert result.created and result.rows == seal["rows"] == 3000
    folder = settings.export_dir / "audit" / "2025-03-10"
    assert result.folder == folder == day_folder(settings.export_dir, DAY)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [f"events-{i:04d}.parquet" for i in range(3)] + ["manifest.json"]

    manifest = read_manifest(folder)
    assert manifest["format"] == EXPORT_FORMAT and manifest["generator"] == GENERATOR
    assert manifest["date"] == "2025-03-10" and manifest["timezone"] == "Africa/Lagos"
    assert manifest["rows"] == 3000
    assert (manifest["first_seq"], manifest["last_seq"]) == (seal["first_seq"], seal["last_seq"])
    assert manifest["chain"] == {"algorithm": "sha256", "prev": GENESIS, "head": seal["head"]}
    assert manifest["prev_manifest_sha256"] is None
    assert manifest["policy_version"] == load_policy().version
    assert manifest["generated_at"].endswith("Z")
    assert manifest["signature"]["key_id"] == Signer(settings.signing_key).key_id
    verify_manifest(manifest, Signer(settings.signing_key).public_key)
    canonical_json(manifest)  # every value has a canonical form
    for entry in manifest["files"]:
        data = (folder / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data) and entry["rows"] == 1000

    parquet = pq.ParquetFile(folder / "events-0000.parquet")
    assert parquet.schema_arrow.equals(EXPORT_SCHEMA)
    assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
    first = parquet.read_row_group(0).slice(0, 1).to_pylist()[0]
    assert first["seq"] == seal["first_seq"]
    assert first["occurred_at"] == lagos(DAY, 21, 0)
    assert isinstance(first["details"], str) and json.loads(first["details"])
    assert len(first["chain_hash"]) == 64

    check = verify_export(folder, Signer(settings.signing_key).public_key)
    assert (check.rows, check.files, check.head) == (3000, 3, seal["head"])


async def test_reexport_is_idempotent(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)
    first = await export_day(conn, settings, DAY, run_id="a")
    stamps = {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()}
    again = await export_day(conn, settings, DAY, run_id="b")
    assert not again.created
    assert (again.head, again.rows, again.files, again.manifest_sha256) == (
        first.head,
        first.rows,
        first.files,
        first.manifest_sha256,
    )
    assert {p.name: p.stat().st_mtime_ns for p in first.folder.iterdir()} == stamps


async def test_manifests_chain_across_days(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)
    day_one = await export_day(conn, settings, DAY)
    day_two = await export_day(conn, settings, NEXT)
    manifest = read_manifest(day_two.folder)
    one_bytes = (day_one.folder / "manifest.json").read_bytes()
    assert manifest["prev_manifest_sha256"] == hashlib.sha256(one_bytes).hexdigest()
    assert manifest["chain"]["prev"] == read_manifest(day_one.folder)["chain"]["head"]
    assert manifest["first_seq"] == read_manifest(day_one.folder)["last_seq"] + 1
    assert day_two.rows == 2000
    verify_export(day_two.folder, Signer(settings.signing_key).public_key)


async def test_an_empty_day_gets_a_manifest(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    sealed = await seal_day(conn, settings, DAY, "r")
    result = await export_day(conn, settings, DAY)
    manifest = read_manifest(result.folder)
    assert (manifest["rows"], manifest["files"]) == (0, [])
    assert (manifest["first_seq"], manifest["last_seq"]) == (None, None)
    assert manifest["chain"]["prev"] == manifest["chain"]["head"] == sealed.head == GENESIS
    assert sorted(p.name for p in result.folder.iterdir()) == ["manifest.json"]
    check = verify_export(result.folder, Signer(settings.signing_key).public_key)
    assert check.rows == 0


async def test_an_unsealed_day_is_not_exported(conn: asyncpg.Connection, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not sealed"):
        await export_day(conn, audit_settings(tmp_path), DAY)


async def test_a_folder_holding_another_export_is_an_error(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)
    day_two = await export_day(conn, settings, NEXT)
    target = day_folder(settings.export_dir, DAY)
    day_two.folder.rename(target)
    with pytest.raises(ExportError, match="move the folder aside"):
        await export_day(conn, settings, DAY)


async def test_a_changed_day_is_not_published(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute(
            "UPDATE audit_events SET outcome = 'failure' "
            "WHERE seq = (SELECT first_seq + 10 FROM audit_seals WHERE day = $1)",
            DAY,
        )
    with pytest.raises(ChainBrokenError, match="nothing was published"):
        await export_day(conn, settings, DAY, rows_per_file=700)
    audit = settings.export_dir / "audit"
    assert list(audit.iterdir()) == []


_KILLED_EXPORT = """
import asyncio, sys, time
from datetime import date
from examstutor_platform.audit.export import export_day
from examstutor_platform.db import connect
from examstutor_platform.settings import Settings

async def main() -> None:
    conn = await connect(sys.argv[1])
    stop_after = int(sys.argv[3])
    seen = []

    def on_file(entry) -> None:
        seen.append(entry)
        if len(seen) == stop_after:
            print("files", len(seen), flush=True)
            time.sleep(600)

    await export_day(conn, Settings.from_env(), date.fromisoformat(sys.argv[2]), run_id="doomed",
                     rows_per_file=300, on_file=on_file, chunk_bytes=40_000)

asyncio.run(main())
"""


def _export_killed_after(database_url: str, home: Path, stop_after: int) -> None:
    """Run an export in a child process and SIGKILL it once ``stop_after`` files are written."""
    env = {**os.environ, **audit_env(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_EXPORT, database_url, DAY.isoformat(), str(stop_after)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == f"files {stop_after}"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.parametrize("stop_after", [1, 5, 10])
async def test_kill_9_mid_export_leaves_no_day_folder_and_a_rerun_completes(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path, stop_after: int
) -> None:
    settings = audit_settings(tmp_path)
    await _two_sealed_days(conn, tmp_path)  # 3000 rows: ten files of 300
    await asyncio.to_thread(_export_killed_after, database_url, tmp_path, stop_after)
    audit = settings.export_dir / "audit"
    leftovers = sorted(p.name for p in audit.iterdir())
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-2025-03-10-doomed-")
    assert not day_folder(settings.export_dir, DAY).exists()

    result = await export_day(conn, settings, DAY, run_id="again", rows_per_file=300)
    assert result.created and len(result.files) == 10
    assert sorted(p.name for p in audit.iterdir()) == ["2025-03-10"]
    check = verify_export(result.folder, Signer(settings.signing_key).public_key)
    assert check.rows == 3000

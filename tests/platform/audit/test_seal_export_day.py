"""Sealing and exporting a day in one read: the same seal and files, idempotent, crash-safe."""

from __future__ import annotations

import asyncio
import hashlib
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
    reference_head,
    spread,
    triggers_disabled,
)

from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.daily import seal_and_export_day, seal_and_export_through
from examstutor_platform.audit.export import ExportError, day_folder, export_day, read_manifest
from examstutor_platform.audit.seal import SealError, load_seal, seal_day
from examstutor_platform.audit.signing import Signer
from examstutor_platform.audit.stream import day_bounds
from examstutor_platform.audit.verify import verify_export
from examstutor_platform.db import connect
from examstutor_platform.errors import ChainBrokenError

DAY = date(2025, 3, 10)
NEXT = DAY + timedelta(days=1)


async def _events(conn: asyncpg.Connection) -> None:
    """3000 hostile events on DAY, 2000 on NEXT."""
    await ensure_partitions(conn, DAY, NEXT + timedelta(days=1))
    await insert_events(conn, spread(lagos(DAY, 21, 0), timedelta(hours=5), 5000), hostile=True)


def _listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


async def test_one_pass_gives_the_seal_and_the_files_of_the_separate_paths(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    result = await seal_and_export_day(conn, settings, DAY, run_id="one", rows_per_file=1000)
    head, rows = await reference_head(conn, DAY, GENESIS)
    assert result.seal.created and result.export.created
    assert (result.seal.head, result.seal.rows, result.seal.prev_head) == (head, rows, GENESIS)
    assert (result.export.head, result.export.rows) == (head, 3000)
    stored = await load_seal(conn, DAY)
    assert stored is not None and stored.run_id == "one"
    stored.check_signature(Signer(settings.signing_key).public_key)
    assert (stored.first_seq, stored.last_seq) == (result.export.first_seq, result.export.last_seq)

    folder = day_folder(settings.export_dir, DAY)
    assert result.export.folder == folder
    assert _listing(settings.export_dir / "audit") == ["2025-03-10"]
    assert _listing(folder) == [f"events-{i:04d}.parquet" for i in range(3)] + ["manifest.json"]
    manifest = read_manifest(folder)
    assert manifest["chain"] == {"algorithm": "sha256", "prev": GENESIS, "head": head}
    assert (
        result.export.manifest_sha256
        == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    )
    check = verify_export(folder, Signer(settings.signing_key).public_key)
    assert (check.rows, check.head) == (3000, head)

    # the separate export of the same sealed day writes the same rows
    apart = await export_day(conn, settings, DAY, tmp_path / "apart", rows_per_file=1000)
    for name in (f"events-{i:04d}.parquet" for i in range(3)):
        assert pq.read_table(folder / name).equals(pq.read_table(apart.folder / name))


async def test_rerunning_changes_nothing(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    first = await seal_and_export_day(conn, settings, DAY, run_id="a")
    stamps = {p.name: p.stat().st_mtime_ns for p in first.export.folder.iterdir()}
    again = await seal_and_export_day(conn, settings, DAY, run_id="b")
    assert not again.seal.created and not again.export.created
    assert (again.seal.head, again.seal.run_id) == (first.seal.head, "a")
    assert again.export.manifest_sha256 == first.export.manifest_sha256
    assert {p.name: p.stat().st_mtime_ns for p in first.export.folder.iterdir()} == stamps
    assert await conn.fetchval("SELECT count(*) FROM audit_seals") == 1
    assert not (await export_day(conn, settings, DAY)).created


async def test_days_chain_and_catch_up_in_order(conn: asyncpg.Connection, tmp_path: Path) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    results = await seal_and_export_through(conn, settings, NEXT, "catch-up")
    assert [r.seal.day for r in results] == [DAY, NEXT]
    assert all(r.seal.created and r.export.created for r in results)
    one, two = (r.export.folder for r in results)
    manifest = read_manifest(two)
    assert manifest["chain"]["prev"] == results[0].seal.head
    assert (
        manifest["prev_manifest_sha256"]
        == hashlib.sha256((one / "manifest.json").read_bytes()).hexdigest()
    )
    assert (await reference_head(conn, NEXT, results[0].seal.head))[0] == results[1].seal.head
    assert verify_export(two, Signer(settings.signing_key).public_key).rows == 2000


async def test_an_already_sealed_day_is_exported_and_checked_apart(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    sealed = await seal_day(conn, settings, DAY, "seal-first")
    result = await seal_and_export_day(conn, settings, DAY, run_id="later")
    assert not result.seal.created and result.export.created
    assert result.export.head == sealed.head
    verify_export(result.export.folder, Signer(settings.signing_key).public_key)

    async with triggers_disabled(conn, "audit_events"):
        await conn.execute(
            "UPDATE audit_events SET outcome = 'failure' "
            "WHERE seq = (SELECT first_seq + 10 FROM audit_seals WHERE day = $1)",
            DAY,
        )
    with pytest.raises(ChainBrokenError):
        await seal_and_export_day(conn, settings, DAY, tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere" / "audit" / "2025-03-10").exists()


async def test_a_changed_sealed_day_is_not_exported(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    await seal_day(conn, settings, DAY, "seal-first")
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute(
            "DELETE FROM audit_events "
            "WHERE seq = (SELECT last_seq FROM audit_seals WHERE day = $1)",
            DAY,
        )
    with pytest.raises(ChainBrokenError):
        await seal_and_export_day(conn, settings, DAY)
    assert not day_folder(settings.export_dir, DAY).exists()


async def test_the_seal_rules_hold_and_nothing_is_written(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    _, end = day_bounds(DAY, settings.tz)
    with pytest.raises(SealError, match="not over yet"):
        await seal_and_export_day(conn, settings, DAY, now=end + timedelta(minutes=4))
    with pytest.raises(SealError, match=f"events go back to {DAY}"):
        await seal_and_export_day(conn, settings, NEXT)
    audit = settings.export_dir / "audit"
    assert not audit.exists() or _listing(audit) == []
    assert await conn.fetchval("SELECT count(*) FROM audit_seals") == 0


@pytest.mark.parametrize("chunk_bytes", [1, 20_000, 1 << 20])
async def test_a_failure_mid_stream_leaves_no_seal_and_no_folder(
    conn: asyncpg.Connection, tmp_path: Path, chunk_bytes: int
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)

    def fail(rows: int) -> None:
        raise RuntimeError(f"stopped after {rows} rows")

    with pytest.raises(RuntimeError, match="stopped after"):
        await asyncio.wait_for(
            seal_and_export_day(conn, settings, DAY, progress=fail, chunk_bytes=chunk_bytes), 60
        )
    # the connection is usable: the COPY ended cleanly, the transaction rolled back
    assert await asyncio.wait_for(load_seal(conn, DAY), 10) is None
    assert _listing(settings.export_dir / "audit") == []
    result = await seal_and_export_day(conn, settings, DAY)
    assert result.seal.created and result.export.created


async def test_files_that_cannot_be_written_do_not_keep_the_day_unsealed(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    settings.export_dir.mkdir(parents=True)
    (settings.export_dir / "audit").write_text("a file where the export folder goes")
    with pytest.raises(FileExistsError):
        await seal_and_export_day(conn, settings, DAY)
    sealed = await load_seal(conn, DAY)
    assert sealed is not None
    assert sealed.head == (await reference_head(conn, DAY, GENESIS))[0]


async def test_a_previous_export_that_does_not_link_fails_after_the_seal(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    first = await seal_and_export_day(conn, settings, DAY)
    manifest = first.export.folder / "manifest.json"
    manifest.write_text(manifest.read_text().replace(first.seal.head, "0" * 64))
    with pytest.raises(ExportError, match="do not link"):
        await seal_and_export_day(conn, settings, NEXT)
    assert await load_seal(conn, NEXT) is not None
    assert _listing(settings.export_dir / "audit") == ["2025-03-10"]


async def test_sealed_but_unpublished_day_is_exported_again_on_rerun(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    """What a run killed between the seal's commit and the folder's rename leaves behind."""
    settings = audit_settings(tmp_path)
    await _events(conn)
    done = await seal_and_export_day(conn, settings, DAY, run_id="doomed")
    audit = settings.export_dir / "audit"
    hidden = audit / ".tmp-2025-03-10-doomed-0badf00d"
    done.export.folder.rename(hidden)  # the day is sealed, its files never published
    (hidden / "events-0000.parquet").write_bytes(b"torn")

    result = await seal_and_export_day(conn, settings, DAY, run_id="again")
    assert not result.seal.created and result.export.created
    assert result.export.head == done.seal.head
    assert _listing(audit) == ["2025-03-10"]
    verify_export(result.export.folder, Signer(settings.signing_key).public_key)


async def test_an_existing_folder_of_an_unsealed_day_is_held_to_the_new_seal(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    first = await seal_and_export_day(conn, settings, DAY)
    async with triggers_disabled(conn, "audit_seals"):
        await conn.execute("DELETE FROM audit_seals")
    again = await seal_and_export_day(conn, settings, DAY)  # same events: same head
    assert again.seal.created and not again.export.created
    assert again.export.manifest_sha256 == first.export.manifest_sha256

    async with triggers_disabled(conn, "audit_seals"):
        await conn.execute("DELETE FROM audit_seals")
    await insert_events(conn, [lagos(DAY, 22)])  # the day now holds one more event
    with pytest.raises(ExportError, match="move the folder aside"):
        await seal_and_export_day(conn, settings, DAY)
    assert _listing(settings.export_dir / "audit") == ["2025-03-10"]


async def test_two_runs_race_and_one_writes(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    other = await connect(database_url)
    try:
        results = await asyncio.gather(
            seal_and_export_day(conn, settings, DAY, run_id="a"),
            seal_and_export_day(other, settings, DAY, run_id="b"),
        )
    finally:
        await other.close()
    assert sorted(r.seal.created for r in results) == [False, True]
    assert sorted(r.export.created for r in results) == [False, True]
    assert results[0].seal.head == results[1].seal.head
    assert _listing(settings.export_dir / "audit") == ["2025-03-10"]
    # the session lock is released: a plain exporter of the day goes through
    assert not (await export_day(conn, settings, DAY)).created


async def test_the_pipelines_role_can_seal_and_export(
    conn: asyncpg.Connection, tmp_path: Path
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    await conn.execute("SET ROLE examstutor_pipelines")
    result = await seal_and_export_day(conn, settings, DAY)
    assert result.seal.created and result.export.rows == 3000


_KILLED = """
import asyncio, sys, time
from datetime import date
from examstutor_platform.audit.daily import seal_and_export_day
from examstutor_platform.db import connect
from examstutor_platform.settings import Settings

async def main() -> None:
    conn = await connect(sys.argv[1])
    stop_after = int(sys.argv[3])

    def progress(rows: int) -> None:
        if rows >= stop_after:
            print("rows", flush=True)
            time.sleep(600)

    await seal_and_export_day(conn, Settings.from_env(), date.fromisoformat(sys.argv[2]),
                              run_id="doomed", rows_per_file=300, progress=progress,
                              chunk_bytes=40_000)

asyncio.run(main())
"""


def _killed_after(database_url: str, home: Path, stop_after: int) -> None:
    env = {**os.environ, **audit_env(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED, database_url, DAY.isoformat(), str(stop_after)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "rows"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
        if child.stdout is not None:
            child.stdout.close()


@pytest.mark.parametrize("stop_after", [1, 2000, 3000])
async def test_kill_9_mid_pass_leaves_no_seal_and_a_rerun_completes(
    conn: asyncpg.Connection, database_url: str, tmp_path: Path, stop_after: int
) -> None:
    settings = audit_settings(tmp_path)
    await _events(conn)
    await asyncio.to_thread(_killed_after, database_url, tmp_path, stop_after)
    audit = settings.export_dir / "audit"
    leftovers = _listing(audit)
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-2025-03-10-doomed-")
    assert any((audit / leftovers[0]).iterdir())  # files were being written
    # the killed session's locks went with it
    assert await load_seal(conn, DAY) is None

    result = await seal_and_export_day(conn, settings, DAY, run_id="again", rows_per_file=300)
    assert result.seal.created and result.export.created and len(result.export.files) == 10
    assert _listing(audit) == ["2025-03-10"]
    check = verify_export(result.export.folder, Signer(settings.signing_key).public_key)
    assert check.rows == 3000

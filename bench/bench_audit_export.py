"""Benchmark: seal + Parquet export of one business day against ``psql \\copy … TO csv``.

Run from the repository root::

    .venv/bin/python bench/bench_audit_export.py [--events 1000000 3000000]

It starts its own embedded PostgreSQL in a temporary folder and, for each
size, migrates a fresh database and fills one Africa/Lagos day with that many
events (``INSERT … SELECT generate_series`` as superuser, ``occurred_at``
spread over the day, details from a hundred shapes), then VACUUM ANALYZE so
that every variant reads settled pages. It then measures on the same rows:

a. ``psql \\copy (SELECT <the export's columns> … ORDER BY seq) TO 'file' CSV``
   with the wheel's psql (best of two runs);
b. what the daily run does, in a child process (so its peak RSS — ``VmHWM``
   — is the pipeline's alone): ``audit_seal``'s ``seal_and_export_through``
   (the day is not sealed yet, so it is sealed and written to zstd Parquet
   with a signed manifest in one read of its events), then ``audit_export``'s
   ``export_day`` (which finds the published day); "seal s" and "export s"
   time those two calls;
c. for comparison, the paths a day sealed earlier takes (same child; the
   peak RSS covers them too): ``seal_day`` re-checking the sealed day ("re-seal
   s") and ``export_day`` into an empty folder, which streams the day again
   and checks its chain against the seal ("re-export s");
d. the export is checked offline with ``verify_export``.

Goals (issue 4): psql time / (seal + export time) >= 0.4; peak RSS flat
across sizes and <= 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from examstutor_platform.db import EmbeddedPostgres, bin_dir, connect, migrate
from examstutor_platform.settings import Settings, b64url_encode

DAY = dt.date(2026, 1, 15)
TZ = ZoneInfo("Africa/Lagos")
COLUMNS = (
    "seq, occurred_at, actor_pseudonym, actor_role, action, resource, resource_id, "
    "outcome, severity, ip_prefix, request_id, details"
)
_FILL = """
INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action, resource,
                          resource_id, outcome, severity, ip_prefix, request_id, details)
SELECT $1::timestamptz + (i * $2::bigint) * interval '1 microsecond',
       'psn:' || lpad(to_hex(i % 5000), 12, '0'),
       (ARRAY['student', 'student', 'student', 'steward', 'auditor'])[1 + i % 5],
       (ARRAY['data.read', 'data.update', 'student.practice', 'auth.login',
              'data.export'])[1 + i % 5],
       'students',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'psn:' || lpad(to_hex(i % 7001), 12, '0') END,
       CASE WHEN i % 50 = 0 THEN 'denied' ELSE 'success' END,
       (ARRAY['low', 'low', 'low', 'medium', 'high'])[1 + i % 5],
       '102.89.0.0/16',
       'req-' || lpad(i::text, 10, '0'),
       jsonb_build_object('route', '/v1/me', 'method', 'GET',
                          'fields', jsonb_build_array('email', 'full_name'), 'n', i % 100)
FROM generate_series($3::bigint, $4::bigint) AS i
"""


def bench_settings(home: Path) -> Settings:
    """Deterministic keys, exports in ``home/exports``."""
    return Settings.from_env(
        {
            "EXAMSTUTOR_HOME": str(home),
            "EXAMSTUTOR_KEKS": f"bench:{b64url_encode(bytes(range(32)))}",
            "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(1, 33))),
            "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(2, 34))),
            "EXAMSTUTOR_SIGNING_KEY": b64url_encode(bytes(range(3, 35))),
            "EXAMSTUTOR_JWT_SECRET": "bench-jwt-secret-" + "x" * 32,
            "EXAMSTUTOR_EXPORT_DIR": str(home / "exports"),
        }
    )


def day_range() -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(DAY, dt.time(0), tzinfo=TZ).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def child(url: str, home: str) -> None:
    """Seal and export DAY; print timings and peak RSS as JSON (run in a child process)."""
    from examstutor_platform.audit.daily import seal_and_export_through
    from examstutor_platform.audit.export import export_day
    from examstutor_platform.audit.seal import seal_day
    from examstutor_platform.audit.signing import Signer
    from examstutor_platform.audit.verify import verify_export

    settings = bench_settings(Path(home))
    conn = await connect(url)
    try:
        started = time.perf_counter()
        [day] = await seal_and_export_through(conn, settings, DAY, "bench")
        sealed = time.perf_counter()
        export = await export_day(conn, settings, DAY, run_id="bench")
        exported = time.perf_counter()
        assert day.seal.created
        assert day.export.created
        assert not export.created
        again = time.perf_counter()
        await seal_day(conn, settings, DAY, "bench-again")
        resealed = time.perf_counter()
        separate = await export_day(conn, settings, DAY, Path(home) / "again", "bench-again")
        reexported = time.perf_counter()
        assert separate.created
        assert separate.head == export.head
    finally:
        await conn.close()
    rss = peak_rss_mb()
    check_started = time.perf_counter()
    check = verify_export(export.folder, Signer(settings.signing_key).public_key)
    checked = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": day.seal.rows,
                "seal_s": sealed - started,
                "export_s": exported - sealed,
                "reseal_s": resealed - again,
                "reexport_s": reexported - resealed,
                "files": len(export.files),
                "bytes": sum(f.bytes for f in export.files),
                "peak_rss_mb": rss,
                "verify_export_s": checked - check_started,
                "verified_rows": check.rows,
            }
        )
    )


async def fill(admin_url: str, server: EmbeddedPostgres, name: str, events: int) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = server.url(name)
    conn = await connect(url)
    try:
        await migrate(conn)
        await conn.execute("SELECT audit_ensure_partitions($1, $2)", DAY, DAY)
        start, _ = day_range()
        step = 86_400_000_000 // events
        batch = 500_000
        for first in range(0, events, batch):
            last = min(events, first + batch) - 1
            await conn.execute(_FILL, start, step, first, last)
        await conn.execute("VACUUM (ANALYZE) audit_events")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return url


def run_psql(url: str, target: Path) -> float:
    start, end = day_range()
    query = (
        f"SELECT {COLUMNS} FROM audit_events WHERE occurred_at >= '{start.isoformat()}' "
        f"AND occurred_at < '{end.isoformat()}' ORDER BY seq"
    )
    started = time.perf_counter()
    subprocess.run(
        [
            str(bin_dir() / "psql"),
            url,
            "-q",
            "-c",
            f"\\copy ({query}) TO '{target}' WITH (FORMAT csv)",
        ],
        check=True,
    )
    elapsed = time.perf_counter() - started
    target.unlink()
    return elapsed


def run_child(url: str, home: Path) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, str(home)],
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    return json.loads(done.stdout.strip().splitlines()[-1]), elapsed


async def main(args: argparse.Namespace, server: EmbeddedPostgres, folder: Path) -> None:
    print(f"date      {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"machine   {os.cpu_count()} CPUs, {platform.machine()}, load {os.getloadavg()[0]:.2f}")
    print(f"python    {sys.version.split()[0]}, asyncpg {asyncpg.__version__}")
    print(f"day       {DAY} (Africa/Lagos)")
    print()
    header = (
        f"{'events':>9} {'psql s':>7} {'seal s':>7} {'export s':>8} {'total s':>7} "
        f"{'ratio':>6} {'peak RSS':>9} {'parquet':>9} {'re-seal s':>9} {'re-export s':>11} "
        f"{'verify s':>8}"
    )
    print(header)
    for events in args.events:
        url = await fill(server.url(), server, f"bench_{events}", events)
        psql = min(run_psql(url, folder / "out.csv") for _ in range(2))
        home = folder / f"home_{events}"
        stats, _ = run_child(url, home)
        assert stats["rows"] == events == stats["verified_rows"], stats
        total = stats["seal_s"] + stats["export_s"]
        print(
            f"{events:>9} {psql:>7.2f} {stats['seal_s']:>7.2f} {stats['export_s']:>8.2f} "
            f"{total:>7.2f} {psql / total:>6.2f} {stats['peak_rss_mb']:>6.0f} MB "
            f"{stats['bytes'] / 1e6:>6.1f} MB {stats['reseal_s']:>9.2f} "
            f"{stats['reexport_s']:>11.2f} {stats['verify_export_s']:>8.2f}",
            flush=True,
        )
        shutil.rmtree(home, ignore_errors=True)
    print()
    print("ratio = psql time / (seal + export time); goal >= 0.4. Peak RSS goal: flat, <= 400 MB.")
    print("seal s: seal_and_export_through (one read: seal + Parquet); export s: export_day")
    print("after it. re-seal s / re-export s: a day sealed earlier (seal_day; export_day into")
    print("a new folder).")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, nargs="+", default=[1_000_000, 3_000_000], metavar="N"
    )
    parser.add_argument("--child", nargs=2, metavar=("URL", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(*args.child))
        return
    with tempfile.TemporaryDirectory(prefix="bench-audit-export-") as name:
        folder = Path(name)
        server = EmbeddedPostgres(folder / "data")
        server.start()
        try:
            asyncio.run(main(args, server, folder))
        finally:
            server.destroy()


if __name__ == "__main__":
    cli()

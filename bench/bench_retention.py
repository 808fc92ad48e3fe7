"""Benchmark: the retention engine against one raw ``DELETE … WHERE ts < cutoff``.

Run from the repository root::

    .venv/bin/python bench/bench_retention.py [--rows N] [--batch-size B] [--rounds R]
                                              [--scenario security sessions]

It starts its own embedded PostgreSQL in a temporary folder (default settings: fsync
and synchronous_commit on) and, per scenario and round, fills a table with ``--rows``
expired rows plus ``--fresh`` recent ones, and an identical copy of it (``LIKE …
INCLUDING ALL``, the same rows) for the raw variant:

* ``security``: ``security_events`` (category ``security_logs``, five years), rows
  that name no student: holds apply to the category as a whole;
* ``sessions``: ``auth_sessions`` (category ``sessions``, 30 days) of ``--subjects``
  students, legal holds on ``--held`` of them: the engine skips their rows and
  certifies the pseudonyms of every student whose sessions it deleted.

Then, from a checkpoint each:

a. raw: ``DELETE FROM bench_copy WHERE clock < cutoff`` — one statement, one
   transaction, no holds, no certificate;
b. engine: ``run_category(…)`` — bounded batches, each its own transaction with its
   progress entry, holds honoured in every batch, then the certificate (SHA-256 over
   the affected students' pseudonyms) and the audit event.

Goal (issue 4): raw time / engine time >= 0.5.

Both run on the same open connection (connecting is timed by neither). Autovacuum is
off on both tables, so that no worker starts on either in the middle of a variant.

Each line also gives CPU seconds: the server's (every process of the local server,
read from ``/proc``; NaN elsewhere) for both variants, and this process's for the
engine. The engine's Python work overlaps the server's only when a second core is
free, so on a busy machine its time approaches their sum.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from benchlib import server_cpu
from examstutor_platform.db import EmbeddedPostgres, connect, migrate
from examstutor_platform.retention import load_policy, run_category
from examstutor_platform.retention.engine import BATCH_SIZE
from examstutor_platform.settings import Settings, b64url_encode

SEED = {
    "auth_sessions": """
INSERT INTO auth_sessions
       (jti, subject_id, subject_kind, role, created_at, last_used_at, expires_at)
SELECT gen_random_uuid(),
       ('00000000-0000-4000-8000-' || lpad((g % $2)::text, 12, '0'))::uuid,
       'student', 'student', ts, ts, ts + interval '1 hour'
  FROM generate_series(1, $1) AS g,
       LATERAL (SELECT $3::timestamptz + g * interval '1 ms' AS ts) AS t
""",
    "security_events": """
INSERT INTO security_events (occurred_at, kind, actor_pseudonym, ip_prefix, details)
SELECT ts, 'login_failed', 'stu_' || md5((g % $2)::text), '102.89.4.0/24', '{}'::jsonb
  FROM generate_series(1, $1) AS g,
       LATERAL (SELECT $3::timestamptz + g * interval '1 ms' AS ts) AS t
""",
}
#: scenario -> (category, table, clock column, age of the expired rows)
SCENARIOS = {
    "sessions": ("sessions", "auth_sessions", "last_used_at", timedelta(days=90)),
    "security": ("security_logs", "security_events", "occurred_at", timedelta(days=6 * 366)),
}
SETTINGS = Settings.from_env(
    {
        "EXAMSTUTOR_KEKS": "bench:" + b64url_encode(os.urandom(32)),
        "EXAMSTUTOR_INDEX_KEY": b64url_encode(os.urandom(32)),
        "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(os.urandom(32)),
        "EXAMSTUTOR_SIGNING_KEY": b64url_encode(os.urandom(32)),
        "EXAMSTUTOR_JWT_SECRET": b64url_encode(os.urandom(48)),
        "EXAMSTUTOR_HOME": tempfile.gettempdir(),
    }
)


def subject(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def seed(
    conn: asyncpg.Connection, args: argparse.Namespace, scenario: str, now: datetime
) -> int:
    """Fill the table and its copy identically; return the rows legal holds keep."""
    _, table, _, age = SCENARIOS[scenario]
    await conn.execute(
        f"TRUNCATE {table}, legal_holds, deletion_certificates, cache_entries RESTART IDENTITY"
    )
    await conn.execute("DROP TABLE IF EXISTS bench_copy")
    for count, start in ((args.rows, now - age), (args.fresh, now - timedelta(days=1))):
        await conn.execute(SEED[table], count, args.subjects, start)
    await conn.execute(f"CREATE TABLE bench_copy (LIKE {table} INCLUDING ALL)")
    await conn.execute(f"INSERT INTO bench_copy OVERRIDING SYSTEM VALUE SELECT * FROM {table}")
    for name in (table, "bench_copy"):
        # no autovacuum worker may start on either table in the middle of a variant
        await conn.execute(f"ALTER TABLE {name} SET (autovacuum_enabled = false)")
        await conn.execute(f"VACUUM ANALYZE {name}")
    if table != "auth_sessions":
        return 0
    held = [subject(n) for n in range(1, args.held + 1)]
    await conn.executemany(
        "INSERT INTO legal_holds (student_id, reason, placed_by) VALUES ($1::uuid, 'bench', 'b')",
        [(h,) for h in held],
    )
    held_rows: int = await conn.fetchval(
        "SELECT count(*) FROM auth_sessions WHERE subject_id = ANY ($1::uuid[])"
        " AND last_used_at < $2",
        held,
        now - timedelta(days=30),
    )
    return held_rows


async def one_round(
    url: str, data_dir: Path, args: argparse.Namespace, scenario: str, number: int
) -> float:
    category, table, clock, _ = SCENARIOS[scenario]
    now = datetime.now(UTC)
    cutoff = load_policy().category(category).cutoff(now)
    conn = await connect(url)
    try:
        held_rows = await seed(conn, args, scenario, now)
        await conn.execute("CHECKPOINT")
        server_before = server_cpu(data_dir)
        started = time.perf_counter()
        status = await conn.execute(f"DELETE FROM bench_copy WHERE {clock} < $1", cutoff)
        raw = time.perf_counter() - started
        raw_cpu = server_cpu(data_dir) - server_before
        assert status == f"DELETE {args.rows}", status
        await conn.execute("CHECKPOINT")
        server_before, client_before = server_cpu(data_dir), time.process_time()
        started = time.perf_counter()
        result = await run_category(
            conn,
            SETTINGS,
            category,
            at=now,
            run_id=f"bench-{scenario}-{number}",
            batch_size=args.batch_size,
        )
        engine = time.perf_counter() - started
        client_cpu = time.process_time() - client_before
        engine_cpu = server_cpu(data_dir) - server_before
        assert result.processed[table] == args.rows - held_rows, result.processed
        assert result.held_total == held_rows
        assert result.certificate_id is not None
        left = await conn.fetchval(f"SELECT count(*) FROM {table}")
        assert left == args.fresh + held_rows
    finally:
        await conn.close()
    ratio = raw / engine
    print(
        f"{scenario} round {number}: raw DELETE {args.rows:,} rows {raw:5.2f} s (server CPU "
        f"{raw_cpu:.2f} s) | engine {result.total:,} rows, {result.batches} batches, {held_rows} "
        f"held, {result.subjects:,} subjects certified {engine:5.2f} s (CPU: client "
        f"{client_cpu:.2f} s, server {engine_cpu:.2f} s) | raw/engine = {ratio:.2f}"
    )
    return ratio


async def main(args: argparse.Namespace, server: EmbeddedPostgres) -> None:
    data_dir = server.data_dir
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute('CREATE DATABASE "bench_retention"')
    finally:
        await admin.close()
    url = server.url("bench_retention")
    conn = await connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    print(
        f"# bench_retention: {args.rows:,} expired rows (+{args.fresh:,} fresh), "
        f"batch {args.batch_size:,}; sessions: {args.subjects:,} students, holds on "
        f"{args.held}; Python {sys.version.split()[0]}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs"
    )
    for scenario in args.scenario:
        ratios = sorted(
            [await one_round(url, data_dir, args, scenario, n) for n in range(args.rounds)]
        )
        median = ratios[len(ratios) // 2]
        verdict = "met" if median >= 0.5 else "NOT met"
        print(
            f"{scenario}: raw/engine median {median:.2f} (best {ratios[-1]:.2f})"
            f"  goal >= 0.5  {verdict}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="expired sessions")
    parser.add_argument("--fresh", type=int, default=20_000, help="sessions not expired")
    parser.add_argument("--subjects", type=int, default=100_000, help="students owning them")
    parser.add_argument("--held", type=int, default=5, help="students under a legal hold")
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="rows per batch (the assets' default)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--scenario", nargs="+", choices=sorted(SCENARIOS), default=["security", "sessions"]
    )
    return parser.parse_args(argv)


def run() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        server.start()
        try:
            asyncio.run(main(args, server))
        finally:
            server.destroy()


if __name__ == "__main__":
    run()

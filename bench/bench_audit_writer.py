"""Benchmark: the group-commit audit writer against raw COPY and one INSERT per event.

Run from the repository root::

    .venv/bin/python bench/bench_audit_writer.py [--events N] [--insert-events M]

It starts its own embedded PostgreSQL in a temporary folder (default settings:
fsync and synchronous_commit on), migrates one fresh database per variant
(audit_events refuses TRUNCATE and DELETE), and measures on the same events:

a. ``AuditWriter`` (``--flushers``, default 1 as in the API, and the other
   of 1 and 2 for comparison) with ``--producers`` concurrent producers, each awaiting
   durability for every event: events/s and the wait per event (p50, p99);
b. raw ``copy_records_to_table`` in 1000-row batches, one commit per batch;
c. one INSERT per event (autocommit), with the same number of concurrent
   producers on a pool of as many connections (what a request handler doing
   its own INSERT amounts to), and from one connection one after another.

Goals (DESIGN.md, "Group-commit audit writes"): writer/COPY >= 0.5 and
writer/INSERT >= 15. Every variant runs ``--rounds`` times, interleaved, and
its median round is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from benchlib import cpu_model, server_facts
from examstutor_platform.audit.events import COLUMNS, AuditEvent
from examstutor_platform.audit.writer import AuditWriter
from examstutor_platform.db import EmbeddedPostgres, connect, create_pool, migrate

_INSERT = (
    f"INSERT INTO audit_events ({', '.join(COLUMNS)}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
#: events each variant writes before it is timed (connections, caches, prepared statements)
WARM = {"writer": 2000, "writer_alt": 2000, "copy": 1000, "insert": 1000, "insert_serial": 200}
_ACTIONS = ("data.read", "data.update", "student.practice", "auth.login", "data.export")


def make_events(count: int, tag: str) -> list[AuditEvent]:
    """Realistic events: pseudonyms, a request id, a few details."""
    return [
        AuditEvent(
            actor_pseudonym=f"psn:{i % 5000:012x}",
            actor_role="student",
            action=_ACTIONS[i % len(_ACTIONS)],
            resource="students",
            outcome="success",
            resource_id=f"psn:{i % 5000:012x}",
            ip_prefix="102.89.0.0/16",
            request_id=f"{tag}-{i:08d}",
            details={"route": "/v1/me", "method": "GET", "fields": ["email", "full_name"]},
        )
        for i in range(count)
    ]


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def fresh_database(admin_url: str, server: EmbeddedPostgres, name: str) -> str:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = server.url(name)
    conn = await connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


async def count_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM audit_events")
    finally:
        await conn.close()
    return count


async def run_producers(
    events: list[AuditEvent], producers: int, submit: Callable[[AuditEvent], Awaitable[None]]
) -> tuple[float, list[float]]:
    """Each producer submits its share one at a time; returns elapsed seconds and waits."""
    waits: list[float] = []
    clock = time.perf_counter

    async def producer(share: list[AuditEvent]) -> None:
        for item in share:
            started = clock()
            await submit(item)
            waits.append(clock() - started)

    started = clock()
    await asyncio.gather(*(producer(events[i::producers]) for i in range(producers)))
    return clock() - started, waits


async def bench_writer(
    url: str, events: list[AuditEvent], args: argparse.Namespace, flushers: int
) -> dict[str, Any]:
    pool = await create_pool(url, min_size=flushers, max_size=flushers)
    writer = AuditWriter(pool, max_batch=args.max_batch, linger=args.linger, flushers=flushers)
    await writer.start()
    try:
        await run_producers(make_events(WARM["writer"], "warm"), args.producers, writer.write)
        before = writer.stats.flushes, writer.stats.events_written
        elapsed, waits = await run_producers(events, args.producers, writer.write)
        flushes = writer.stats.flushes - before[0]
        written = writer.stats.events_written - before[1]
    finally:
        await writer.close()
        await pool.close()
    waits.sort()
    return {
        "elapsed": elapsed,
        "rate": len(events) / elapsed,
        "p50_ms": percentile(waits, 0.50) * 1e3,
        "p99_ms": percentile(waits, 0.99) * 1e3,
        "mean_batch": written / flushes,
        "flushes": flushes,
    }


async def _binary_jsonb(conn: asyncpg.Connection) -> None:
    """A jsonb codec binary COPY can use (the platform's text codec cannot)."""
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda value: b"\x01" + dump(value).encode(),
        decoder=lambda data: json.loads(data[1:]),
    )


async def bench_copy(url: str, events: list[AuditEvent], batch: int = 1000) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        await _binary_jsonb(conn)
        warm = make_events(WARM["copy"], "warm")
        await conn.copy_records_to_table(
            "audit_events", records=[e.as_row() for e in warm], columns=COLUMNS
        )
        started = time.perf_counter()
        for offset in range(0, len(events), batch):
            records = [e.as_row() for e in events[offset : offset + batch]]
            await conn.copy_records_to_table("audit_events", records=records, columns=COLUMNS)
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return {"elapsed": elapsed, "rate": len(events) / elapsed}


async def bench_insert_concurrent(
    url: str, events: list[AuditEvent], producers: int
) -> dict[str, Any]:
    pool = await create_pool(url, min_size=producers, max_size=producers)

    async def insert(item: AuditEvent) -> None:
        await pool.execute(_INSERT, *item.as_row())

    try:
        await run_producers(make_events(WARM["insert"], "warm"), producers, insert)
        elapsed, waits = await run_producers(events, producers, insert)
    finally:
        await pool.close()
    waits.sort()
    return {
        "elapsed": elapsed,
        "rate": len(events) / elapsed,
        "p50_ms": percentile(waits, 0.50) * 1e3,
        "p99_ms": percentile(waits, 0.99) * 1e3,
    }


async def bench_insert_serial(url: str, events: list[AuditEvent]) -> dict[str, Any]:
    conn = await connect(url)
    try:
        for item in make_events(WARM["insert_serial"], "warm"):
            await conn.execute(_INSERT, *item.as_row())
        started = time.perf_counter()
        for item in events:
            await conn.execute(_INSERT, *item.as_row())
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    return {"elapsed": elapsed, "rate": len(events) / elapsed}


async def main(args: argparse.Namespace, server: EmbeddedPostgres) -> None:
    admin_url = server.url()
    n_insert = min(args.insert_events, args.events)
    print(f"date      {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"machine   {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}")
    print(f"python    {sys.version.split()[0]}, asyncpg {asyncpg.__version__}")
    print(f"server    {await server_facts(admin_url)}")
    print(
        f"workload  {args.events} events (INSERT: {n_insert}), {args.producers} producers, "
        f"writer max_batch={args.max_batch} flushers={args.flushers} "
        f"linger={args.linger * 1e3:g} ms"
    )
    print()

    Variant = Callable[[str, list[AuditEvent]], Awaitable[dict[str, Any]]]
    other = 2 if args.flushers == 1 else 1
    variants: list[tuple[str, int, Variant]] = [
        ("writer", args.events, lambda url, ev: bench_writer(url, ev, args, args.flushers)),
        ("writer_alt", args.events, lambda url, ev: bench_writer(url, ev, args, other)),
        ("copy", args.events, bench_copy),
        ("insert", n_insert, lambda url, ev: bench_insert_concurrent(url, ev, args.producers)),
        ("insert_serial", n_insert, bench_insert_serial),
    ]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
    for round_ in range(args.rounds):  # interleaved, so that a noisy minute hits every side
        for name, count, run in variants:
            url = await fresh_database(admin_url, server, f"bench_{name}_{round_}")
            events = make_events(count, f"{name}-{round_}")
            runs[name].append(await run(url, events))
            stored = await count_rows(url)
            expected = count + WARM[name]
            assert stored == expected, f"{name}: {stored} rows stored, expected {expected}"
    # each variant's median round (by rate) stands for it
    results = {
        name: sorted(rounds, key=lambda r: r["rate"])[len(rounds) // 2]
        for name, rounds in runs.items()
    }

    w, c, i, s = (results[k] for k in ("writer", "copy", "insert", "insert_serial"))
    print(f"median of {args.rounds} interleaved rounds per variant")
    print(f"{'variant':<56}{'events':>8}{'seconds':>8}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}")

    def row(label: str, count: int, r: dict[str, Any]) -> None:
        waits = f"{r['p50_ms']:8.2f}{r['p99_ms']:8.2f}" if "p50_ms" in r else ""
        print(f"{label:<56}{count:>8}{r['elapsed']:>8.2f}{r['rate']:>10,.0f}{waits}")

    p = args.producers
    row(f"a. AuditWriter flushers={args.flushers}, {p} producers awaiting each", args.events, w)
    row(
        f"   AuditWriter flushers={other}, {p} producers awaiting each",
        args.events,
        results["writer_alt"],
    )
    row("b. copy_records_to_table, 1000-row batches", args.events, c)
    row(f"c. INSERT per event, {p} producers, {p}-connection pool", n_insert, i)
    row("   INSERT per event, one connection, one at a time", n_insert, s)
    print()
    for name in ("writer", "writer_alt"):
        r = results[name]
        print(f"{name}: {r['flushes']} flushes, mean batch {r['mean_batch']:.1f} events")
    for name, rounds in runs.items():
        print(f"{name} rounds (events/s): " + ", ".join(f"{r['rate']:,.0f}" for r in rounds))
    pairs = zip(runs["writer"], runs["insert_serial"], strict=True)
    per_round = [ours["rate"] / theirs["rate"] for ours, theirs in pairs]
    print("writer/INSERT (one conn) per round: " + ", ".join(f"{x:.1f}x" for x in per_round))

    def verdict(value: float, goal: float) -> str:
        return "met" if value >= goal else "MISSED"

    copy_ratio = w["rate"] / c["rate"]
    insert_ratio = w["rate"] / i["rate"]
    serial_ratio = w["rate"] / s["rate"]
    print(f"writer/COPY              = {copy_ratio:6.2f}   goal >= 0.5  {verdict(copy_ratio, 0.5)}")
    print(
        f"writer/INSERT (pool)     = {insert_ratio:6.1f}x  goal >= 15x  {verdict(insert_ratio, 15)}"
    )
    print(
        f"writer/INSERT (one conn) = {serial_ratio:6.1f}x  goal >= 15x  {verdict(serial_ratio, 15)}"
    )
    print(
        f"(ceiling: COPY/INSERT(pool) = {c['rate'] / i['rate']:.1f}x, "
        f"COPY/INSERT(one conn) = {c['rate'] / s['rate']:.1f}x)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events per variant")
    parser.add_argument(
        "--insert-events", type=int, default=20_000, help="events for the INSERT variants"
    )
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument(
        "--flushers", type=int, default=1, help="writer COPYs open at once (the API's: 1)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant")
    parser.add_argument("--linger", type=float, default=0.0, help="writer linger, seconds")
    return parser.parse_args(argv)


def run() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        server.start()
        try:
            asyncio.run(main(args, server))
        finally:
            server.destroy()


if __name__ == "__main__":
    run()

"""Benchmark: data-key rotation of 200k students (all five encrypted columns) against a
MultiFernet re-encryption of the same rows, in the same run.

Run from the repository root::

    .venv/bin/python bench/bench_rotation.py [--students N] [--batch-size B] [--rounds R]

It starts its own embedded PostgreSQL in a temporary folder (default settings:
fsync and synchronous_commit on), migrates a database and fills two identical
tables by COPY: ``students`` with FieldCipher ciphertexts (AES-256-GCM, key 1)
and ``students_fernet`` (``LIKE students INCLUDING ALL``, the same foreign key to
``data_keys``) with Fernet tokens of the same plaintexts. Then, each round, on
the same rows:

a. ours: ``create_data_key`` then ``rewrap_fields`` (batches of ``--batch-size``,
   guarded, checkpointed; ``settle_seconds=0`` as no API is running);
b. MultiFernet: fetch ``--batch-size`` rows in id order, ``MultiFernet.rotate``
   every value in Python, write them back with the same bulk method (one
   ``UPDATE … FROM unnest(…)`` per batch reaching rows by ``ctid``, setting
   ``key_version`` too), until every row is done; no guards, no checkpoint, no
   second pass (less work than ours).

The order of a and b alternates between rounds. Beside the full runs it times
the cryptography alone on the same values held in memory (no database), which
bounds how fast any Fernet rotation of these rows could be. Every ciphertext on
both sides is checked to decrypt to its plaintext at the end.

Goal (issue 4): MultiFernet time / our time >= 4.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet, MultiFernet

from benchlib import cpu_model, server_cpu
from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    DataKeyStore,
    FieldCipher,
    KeyRing,
    create_data_key,
    encrypted_table,
    rewrap_fields,
    rows_off_primary,
)
from examstutor_platform.crypto.reencrypt import BatchReencryptor
from examstutor_platform.db import EmbeddedPostgres, connect, migrate
from examstutor_platform.settings import Settings, b64url_encode, new_kek

GOAL = 4.0
COLUMNS = encrypted_table("students").columns
_FERNET_SELECT = (
    "SELECT ctid, id, email_enc, full_name_enc, phone_enc, date_of_birth_enc, "
    "guardian_email_enc FROM students_fernet"
)
FERNET_FIRST = f"{_FERNET_SELECT} ORDER BY id LIMIT $1"
FERNET_NEXT = f"{_FERNET_SELECT} WHERE id > $2 ORDER BY id LIMIT $1"
# the bulk write of rewrap_fields (rows reached by ctid, one statement per batch),
# without its guards and checkpoint
FERNET_UPDATE = """
UPDATE students_fernet AS t
   SET email_enc = v.a, full_name_enc = v.b, phone_enc = v.c, date_of_birth_enc = v.d,
       guardian_email_enc = v.e, key_version = $8
  FROM unnest($1::tid[], $2::uuid[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
              $7::bytea[]) AS v(row_ctid, id, a, b, c, d, e)
 WHERE t.ctid = ANY ($1::tid[]) AND t.ctid = v.row_ctid AND t.id = v.id
"""
_FIRST = ("Adaeze", "Chinedu", "Ngozi", "Oluwaseun", "Fatima", "Emeka", "Aisha", "Tunde")
_LAST = ("Okonkwo", "Adeyemi", "Balogun", "Eze", "Ibrahim", "Nwosu", "Olawale", "Bello")


def bench_settings(home: Path) -> Settings:
    """Fresh random secrets for this run only."""
    return Settings.from_env(
        {
            "EXAMSTUTOR_HOME": str(home),
            "EXAMSTUTOR_KEKS": new_kek("bench"),
            "EXAMSTUTOR_INDEX_KEY": b64url_encode(os.urandom(32)),
            "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(os.urandom(32)),
            "EXAMSTUTOR_SIGNING_KEY": b64url_encode(os.urandom(32)),
            "EXAMSTUTOR_JWT_SECRET": b64url_encode(os.urandom(32)) + "x" * 8,
        }
    )


def plaintexts(count: int) -> list[tuple[uuid.UUID, tuple[str, ...]]]:
    """A realistic student profile per row: email, name, phone, birth date, guardian email."""
    rows: list[tuple[uuid.UUID, tuple[str, ...]]] = []
    for i in range(count):
        first, last = _FIRST[i % 8], _LAST[(i // 8) % 8]
        rows.append(
            (
                uuid.uuid4(),
                (
                    f"{first.lower()}.{last.lower()}{i}@students.examstutor.ng",
                    f"{first} {last}",
                    f"+23480{i:08d}",
                    f"20{i % 10:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    f"parent.{last.lower()}{i}@gmail.com",
                ),
            )
        )
    return rows


async def fill(
    conn: asyncpg.Connection,
    cipher: FieldCipher,
    fernet: Fernet,
    rows: list[tuple[uuid.UUID, tuple[str, ...]]],
) -> None:
    """COPY the same students into both tables, 20k rows at a time."""
    await conn.execute("CREATE TABLE students_fernet (LIKE students INCLUDING ALL)")
    # LIKE copies the indexes, not the storage parameters: the same fillfactor as students
    await conn.execute("ALTER TABLE students_fernet SET (fillfactor = 90)")
    await conn.execute(
        "ALTER TABLE students_fernet ADD FOREIGN KEY (key_version) REFERENCES data_keys (version)"
    )
    version = cipher.primary_version
    columns = ["id", "email_index", *COLUMNS, "key_version", "status"]
    for start in range(0, len(rows), 20_000):
        chunk = rows[start : start + 20_000]
        ours, theirs = [], []
        for sid, values in chunk:
            rid = str(sid)
            index = sid.bytes * 2
            sealed = [
                cipher.encrypt(v, table="students", column=c, row_id=rid)
                for v, c in zip(values, COLUMNS, strict=True)
            ]
            tokens = [fernet.encrypt(v.encode()) for v in values]
            ours.append((sid, index, *sealed, version, "active"))
            theirs.append((sid, index, *tokens, version, "active"))
        await conn.copy_records_to_table("students", records=ours, columns=columns)
        await conn.copy_records_to_table("students_fernet", records=theirs, columns=columns)
    await conn.execute("VACUUM ANALYZE students")
    await conn.execute("VACUUM ANALYZE students_fernet")


async def checkpoint(url: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


@dataclass
class Timing:
    """Wall seconds, and CPU seconds of this process and of the database server."""

    wall: float
    client_cpu: float
    server_cpu: float

    @property
    def cpu(self) -> float:
        return self.client_cpu + self.server_cpu


class Clock:
    """Measures a block: wall time, this process's CPU and the server's CPU."""

    def __init__(self, server: EmbeddedPostgres) -> None:
        self.server = server

    def __enter__(self) -> Clock:
        self.started = (time.perf_counter(), time.process_time(), server_cpu(self.server.data_dir))
        return self

    def __exit__(self, *_: object) -> None:
        wall, cpu, server = self.started
        self.timing = Timing(
            time.perf_counter() - wall,
            time.process_time() - cpu,
            server_cpu(self.server.data_dir) - server,
        )


async def ours_round(
    url: str, server: EmbeddedPostgres, settings: Settings, args: argparse.Namespace, tag: str
) -> tuple[Timing, int]:
    await checkpoint(url)
    with Clock(server) as clock:
        result = await rewrap_fields(
            url,
            settings,
            run_id=f"bench-{tag}",
            batch_size=args.batch_size,
            writers=args.writers,
            settle_seconds=0,
        )
    assert result.finished, result
    assert result.rows_rewrapped == result.tables[0].rows_done == args.students, result
    return clock.timing, result.target_version


async def fernet_round(
    url: str, server: EmbeddedPostgres, keys: list[Fernet], batch_size: int, version: int
) -> Timing:
    await checkpoint(url)
    conn = await connect(url)
    try:
        rotate = MultiFernet(keys).rotate
        with Clock(server) as clock:
            rows = await conn.fetch(FERNET_FIRST, batch_size)
            while rows:
                arrays: list[list[object]] = [[r[0] for r in rows], [r[1] for r in rows]]
                for i in range(2, 7):
                    arrays.append([None if r[i] is None else rotate(r[i]) for r in rows])
                await conn.execute(FERNET_UPDATE, *arrays, version)
                rows = await conn.fetch(FERNET_NEXT, batch_size, rows[-1][1])
    finally:
        await conn.close()
    return clock.timing


async def crypto_only(url: str, settings: Settings, keys: list[Fernet]) -> tuple[float, float]:
    """CPU seconds to re-encrypt every value in memory: (ours, MultiFernet)."""
    conn = await connect(url)
    try:
        ours = await conn.fetch(f"SELECT id, {', '.join(COLUMNS)} FROM students")
        theirs = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM students_fernet")
        ring = await DataKeyStore().load(conn, settings.keks)
    finally:
        await conn.close()
    # the values are under the primary already: re-encrypt under a ring whose primary
    # is another key, so that every value is really decrypted and encrypted again
    versions = ring.versions
    other = BatchReencryptor(KeyRing({v: ring.key(v) for v in versions}, primary=versions[0]))
    row_ids = [str(r[0]) for r in ours]
    started = time.process_time()
    for i, column in enumerate(COLUMNS, start=1):
        other.column("students", column, [r[i] for r in ours], row_ids)
    ours_seconds = time.process_time() - started
    rotate = MultiFernet([Fernet(Fernet.generate_key()), *keys]).rotate
    started = time.process_time()
    for row in theirs:
        for value in row:
            rotate(value)
    return ours_seconds, time.process_time() - started


async def verify(
    url: str, settings: Settings, keys: list[Fernet], rows: list[tuple[uuid.UUID, tuple[str, ...]]]
) -> None:
    """Every ciphertext on both sides decrypts to its plaintext; nothing is off the key."""
    expected = dict(rows)
    conn = await connect(url)
    try:
        assert await rows_off_primary(conn) == {t.name: 0 for t in ENCRYPTED_TABLES}
        cipher = FieldCipher(await DataKeyStore().load(conn, settings.keks))
        primary = cipher.primary_version
        for row in await conn.fetch(f"SELECT id, key_version, {', '.join(COLUMNS)} FROM students"):
            assert row[1] == primary
            rid = str(row[0])
            values = expected[row[0]]
            for i, column in enumerate(COLUMNS):
                sealed = row[2 + i]
                assert FieldCipher.key_version(sealed) == primary
                plain = cipher.decrypt_text(sealed, table="students", column=column, row_id=rid)
                assert plain == values[i]
        decrypt = keys[0].decrypt  # the newest key only: every token was rotated onto it
        for row in await conn.fetch(f"SELECT id, {', '.join(COLUMNS)} FROM students_fernet"):
            values = expected[row[0]]
            for i in range(5):
                assert decrypt(row[1 + i]).decode() == values[i]
    finally:
        await conn.close()


async def main(args: argparse.Namespace, server: EmbeddedPostgres, home: Path) -> None:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute("CREATE DATABASE bench_rotation")
        facts = await admin.fetchval("SHOW server_version")
    finally:
        await admin.close()
    url = server.url("bench_rotation")
    settings = bench_settings(home)
    print("bench_rotation: rewrap 200k-style student rows (5 encrypted columns) vs MultiFernet")
    print(f"date      {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine   {platform.machine()} {cpu_model()}, {os.cpu_count()} CPUs "
        f"(nproc {len(os.sched_getaffinity(0))}), Python {platform.python_version()}, "
        f"asyncpg {asyncpg.__version__}, PostgreSQL {facts}"
    )
    print(
        f"workload  {args.students:,} students x 5 columns = {args.students * 5:,} values, "
        f"batch {args.batch_size}, {args.writers} writers, {args.rounds} rounds; "
        f"load average {load()}"
    )

    rows = plaintexts(args.students)
    fernet_keys = [Fernet(Fernet.generate_key())]
    conn = await connect(url)
    try:
        await migrate(conn)
        await create_data_key(conn, settings)
        cipher = FieldCipher(await DataKeyStore().load(conn, settings.keks))
        started = time.perf_counter()
        await fill(conn, cipher, fernet_keys[0], rows)
        print(f"fill      {time.perf_counter() - started:.1f} s (encrypt both sides + COPY)")
    finally:
        await conn.close()

    ours: list[Timing] = []
    fernet: list[Timing] = []
    for r in range(args.rounds):
        # a new key on each side, made before the clocks start; both write its version
        fernet_keys.insert(0, Fernet(Fernet.generate_key()))
        conn = await connect(url)
        try:
            version = await create_data_key(conn, settings)
        finally:
            await conn.close()
        sides = ["ours", "fernet"] if r % 2 == 0 else ["fernet", "ours"]
        for side in sides:
            if side == "ours":
                timing, target = await ours_round(url, server, settings, args, str(r))
                assert target == version
                ours.append(timing)
            else:
                fernet.append(
                    await fernet_round(url, server, fernet_keys, args.batch_size, version)
                )
        o, f = ours[-1], fernet[-1]
        print(
            f"round {r + 1}   ours {o.wall:6.2f} s   MultiFernet {f.wall:6.2f} s   "
            f"ratio {f.wall / o.wall:5.2f}   ({' then '.join(sides)}; load {load()})"
        )

    ours_crypto, fernet_crypto = await crypto_only(url, settings, fernet_keys)
    await verify(url, settings, fernet_keys, rows)
    print("verify    every ciphertext of both tables decrypts to its plaintext; 0 rows off key")
    values = args.students * 5
    print()
    print(
        f"{'(median of rounds)':<32}{'wall s':>8}{'values/s':>10}"
        f"{'client CPU s':>14}{'server CPU s':>14}"
    )
    for label, timings in (
        ("ours: rewrap_fields", ours),
        ("MultiFernet fetch/rotate/write", fernet),
    ):
        wall = statistics.median(t.wall for t in timings)
        print(
            f"{label:<32}{wall:>8.2f}{values / wall:>10,.0f}"
            f"{statistics.median(t.client_cpu for t in timings):>14.2f}"
            f"{statistics.median(t.server_cpu for t in timings):>14.2f}"
        )
    for label, seconds in (
        ("crypto only: ours", ours_crypto),
        ("crypto only: MultiFernet", fernet_crypto),
    ):
        print(f"{label:<32}{seconds:>8.2f}{values / seconds:>10,.0f}{seconds:>14.2f}")
    wall_ratio = statistics.median(f.wall for f in fernet) / statistics.median(o.wall for o in ours)
    cpu_ratio = statistics.median(f.cpu for f in fernet) / statistics.median(o.cpu for o in ours)
    verdict = "met" if wall_ratio >= GOAL else "MISSED"
    print()
    print(f"MultiFernet/ours, wall time    = {wall_ratio:5.2f}x   goal >= {GOAL:g}x  {verdict}")
    print(f"MultiFernet/ours, CPU (c+s)    = {cpu_ratio:5.2f}x   (work done, whatever the load)")
    print(f"crypto alone, MultiFernet/ours = {fernet_crypto / ours_crypto:5.2f}x")
    print(f"load average at the end: {load()}")


def load() -> str:
    """The 1-minute load average (other work on the machine skews wall times)."""
    return f"{os.getloadavg()[0]:.1f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--students", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--writers", type=int, default=2, help="rewrap_fields writers")
    return parser.parse_args(argv)


def run() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        server.start()
        try:
            asyncio.run(main(args, server, Path(folder)))
        finally:
            server.destroy()
    sys.stdout.flush()


if __name__ == "__main__":
    run()

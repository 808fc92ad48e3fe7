"""``examstutor audit verify`` and ``examstutor audit verify-export`` (CONTRACT §2).

``verify`` recomputes the sealed days from the configured database; on a
terminal it shows its progress on stderr. ``verify-export`` needs no database:
an auditor passes the PEM public key downloaded from ``GET /v1/audit/public-key``
with ``--public-key``; without it the key of ``EXAMSTUTOR_SIGNING_KEY`` is used
(operators on a machine that holds the signing key).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import date
from pathlib import Path
from typing import TextIO

import asyncpg

from examstutor_platform.audit.signing import PublicKeyLike, Signer, load_public_key
from examstutor_platform.audit.verify import (
    VerifyProgress,
    VerifyResult,
    verify_days,
    verify_export,
)
from examstutor_platform.db import connect
from examstutor_platform.db.location import resolve_url
from examstutor_platform.errors import AuditError, DatabaseError
from examstutor_platform.settings import Settings

__all__ = ["TerminalProgress", "register"]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` and its sub-commands."""
    parser = commands.add_parser("audit", help="audit log: verify, verify-export")
    sub = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    verify = sub.add_parser(
        "verify",
        help="recompute the chain of sealed days from the database and check every seal",
    )
    verify.add_argument("--from", dest="from_day", type=_day, metavar="D", help="first day")
    verify.add_argument("--to", dest="to_day", type=_day, metavar="D", help="last day")
    verify.set_defaults(handler=_verify)
    export = sub.add_parser(
        "verify-export",
        help="offline: check one exported day (signature, SHA-256s, row counts, chain)",
    )
    export.add_argument("folder", type=Path, metavar="DIR", help="the day folder YYYY-MM-DD")
    export.add_argument(
        "--public-key",
        type=Path,
        metavar="FILE",
        help="PEM public key (GET /v1/audit/public-key); default: EXAMSTUTOR_SIGNING_KEY's",
    )
    export.set_defaults(handler=_verify_export)


class TerminalProgress:
    """A one-line counter on a terminal, redrawn with ``\\r`` at most ten times a second."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last = 0.0
        self._width = 0

    def __call__(self, days: int, total: int, events: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and days < total:
            return
        self._last = now
        percent = 100 * days // total if total else 100
        line = f"verifying: day {days}/{total} ({percent}%), {events:,} events"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        """Erase the line."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


async def _run_verify(
    url: str, settings: Settings, args: argparse.Namespace, progress: VerifyProgress | None
) -> VerifyResult:
    try:
        conn = await connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    try:
        return await verify_days(conn, settings, args.from_day, args.to_day, progress)
    finally:
        await conn.close()


def _verify(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = resolve_url(settings)
    progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    try:
        result = asyncio.run(_run_verify(url, settings, args, progress))
    finally:
        if progress is not None:
            progress.clear()
    if result.intact:
        print(f"intact: {result.days} days, {result.events} events")
        return 0
    seq = "unknown" if result.first_bad_seq is None else str(result.first_bad_seq)
    print(f"first bad seq: {seq}")
    print(f"{result.problem}")
    return 1


def _verify_export(args: argparse.Namespace) -> int:
    key: PublicKeyLike
    if args.public_key is not None:
        key = load_public_key(args.public_key.read_bytes())
    else:
        key = Signer(Settings.from_env().signing_key).public_key
    try:
        check = verify_export(args.folder, key)
    except AuditError as exc:
        print(f"FAILED: {exc}")
        return 1
    span = "no events" if check.rows == 0 else f"seq {check.first_seq}–{check.last_seq}"
    print(
        f"intact: {check.rows} rows, head {check.head} ({check.day}, {check.files} files, {span})"
    )
    return 0

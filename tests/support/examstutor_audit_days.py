"""Helpers for the seal, export and verify tests: settings, events on given days, tampering."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from examstutor_platform.audit.canonical import export_row
from examstutor_platform.audit.chain import ChainBuilder
from examstutor_platform.audit.events import COLUMNS, AuditRecord
from examstutor_platform.settings import Settings, b64url_encode

__all__ = [
    "LAGOS",
    "SIGNING_KEY",
    "audit_env",
    "audit_settings",
    "ensure_partitions",
    "insert_events",
    "lagos",
    "reference_head",
    "spread",
    "triggers_disabled",
]

LAGOS = ZoneInfo("Africa/Lagos")
SIGNING_KEY = b64url_encode(bytes(range(3, 35)))
_ACTIONS = ("data.read", "data.update", "student.practice", "auth.login", "data.export")
#: text that stresses JSON and COPY escaping
_HOSTILE = [
    'quote " inside',
    "back\\slash \\N \\\\",
    "tab\there",
    "new\nline\r\n",
    "ctl \x01\x02\x1f\x7f",
    "\b\f\v",
    "Mathématiques Ọ̀ṣun ẹ̀kọ́ 数学 🎓",
    "\u2028\u2029 separators",
    "",
    "</script>&amp;",
]


def audit_env(home: Path) -> dict[str, str]:
    """A complete environment with deterministic secrets (never the dev ones)."""
    return {
        "EXAMSTUTOR_HOME": str(home),
        "EXAMSTUTOR_KEKS": f"test-kek:{b64url_encode(bytes(range(32)))}",
        "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(1, 33))),
        "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(2, 34))),
        "EXAMSTUTOR_SIGNING_KEY": SIGNING_KEY,
        "EXAMSTUTOR_JWT_SECRET": "test-jwt-secret-" + "x" * 32,
        "EXAMSTUTOR_EXPORT_DIR": str(home / "exports"),
    }


def audit_settings(home: Path) -> Settings:
    """Settings with deterministic keys, exports in ``home/exports``, Africa/Lagos days."""
    return Settings.from_env(audit_env(home))


def lagos(day: date, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """A moment on ``day`` in Lagos time."""
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=LAGOS)


def spread(start: datetime, span: timedelta, count: int) -> list[datetime]:
    """``count`` moments evenly from ``start`` over ``span``."""
    step = span / count
    return [start + step * i for i in range(count)]


async def ensure_partitions(conn: asyncpg.Connection, first: date, last: date) -> None:
    """Create the monthly audit partitions covering ``first`` … ``last`` (UTC)."""
    await conn.execute(
        "SELECT audit_ensure_partitions($1, $2)",
        first - timedelta(days=1),
        last + timedelta(days=1),
    )


def _event(moment: datetime, index: int, rng: random.Random, hostile: bool) -> tuple[Any, ...]:
    def text(base: str) -> str:
        return rng.choice(_HOSTILE) + base if hostile and rng.random() < 0.3 else base

    details: dict[str, Any] = {"route": "/v1/me", "method": "GET", "n": index % 7}
    if hostile and rng.random() < 0.5:
        details = {
            "zeta": rng.choice(_HOSTILE),
            "Ünïcode": [1.5, 1e20, -0.0, 12345678901234567890, True, None],
            "nested": {"b": {"a": rng.choice(_HOSTILE)}, "a": [], "": {}},
            "score": rng.random(),
        }
    return (
        moment,
        f"psn:{index % 97:012x}",
        text("student"),
        _ACTIONS[index % len(_ACTIONS)],
        text("students"),
        None if index % 3 == 0 else text(f"psn:{index % 89:012x}"),
        "success" if index % 11 else "denied",
        ("low", "medium", "high", "critical")[index % 4],
        None if index % 5 == 0 else "102.89.0.0/16",
        None if index % 4 == 0 else text(f"req-{index:06d}"),
        details,
    )


async def insert_events(
    conn: asyncpg.Connection,
    moments: list[datetime],
    *,
    hostile: bool = False,
    seed: int = 7,
) -> None:
    """Store one event at each moment (as superuser: ``occurred_at`` given explicitly)."""
    rng = random.Random(seed)
    await conn.copy_records_to_table(
        "audit_events",
        records=[_event(m, i, rng, hostile) for i, m in enumerate(moments)],
        columns=["occurred_at", *COLUMNS],
    )


async def reference_head(conn: asyncpg.Connection, day: date, prev: str) -> tuple[str, int]:
    """The day's chain head and row count computed with the reference code (export_row)."""
    start = lagos(day).astimezone(UTC)
    end = lagos(day + timedelta(days=1)).astimezone(UTC)
    rows = await conn.fetch(
        "SELECT * FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY seq",
        start,
        end,
    )
    builder = ChainBuilder(prev)
    for row in rows:
        builder.add(export_row(AuditRecord(**dict(row))))
    return builder.head, builder.count


@asynccontextmanager
async def triggers_disabled(conn: asyncpg.Connection, table: str) -> AsyncIterator[None]:
    """Let a superuser rewrite an append-only table for the duration (a tampering attacker)."""
    await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")

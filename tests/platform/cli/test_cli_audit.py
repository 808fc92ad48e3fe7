"""``examstutor audit verify`` and ``examstutor audit verify-export`` as a person runs them."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import pytest
from examstutor_audit_days import (
    audit_env,
    audit_settings,
    ensure_partitions,
    insert_events,
    lagos,
    triggers_disabled,
)

from examstutor_platform.audit.export import export_day
from examstutor_platform.audit.seal import seal_day
from examstutor_platform.audit.signing import Signer

EXAMSTUTOR = str(Path(sys.executable).parent / "examstutor")
DAY = date(2025, 3, 10)
NEXT = DAY + timedelta(days=1)


def _env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    return {**env, **audit_env(home), "EXAMSTUTOR_DATABASE_URL": database_url}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXAMSTUTOR, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _run_on_terminal(env: dict[str, str]) -> tuple[int, bytes]:
    """``audit verify`` with stderr on a pseudo-terminal; (exit status, what the terminal got)."""
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [EXAMSTUTOR, "audit", "verify"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                block = os.read(controller, 4096)
            except OSError:
                break
            if not block:
                break
            shown += block
    finally:
        if terminal != -1:
            os.close(terminal)
        os.close(controller)
    return done.returncode, shown


@pytest.fixture
async def sealed(conn: asyncpg.Connection, tmp_path: Path) -> Path:
    """Two sealed and exported days of 600 events each; returns the exports folder."""
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, NEXT)
    await insert_events(conn, [lagos(DAY) + timedelta(seconds=144 * i) for i in range(1200)])
    for day in (DAY, NEXT):
        await seal_day(conn, settings, day, "cli")
        await export_day(conn, settings, day)
    return settings.export_dir / "audit"


async def test_verify_reports_intact_then_the_first_bad_seq(
    sealed: Path, conn: asyncpg.Connection, database_url: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, database_url)
    ok = _run(env, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "intact: 2 days, 1200 events"
    assert ok.stderr == ""  # no progress when stderr is not a terminal
    one = _run(env, "audit", "verify", "--from", "2025-03-11", "--to", "2025-03-11")
    assert one.stdout.strip() == "intact: 1 days, 600 events"

    target = await conn.fetchval("SELECT first_seq + 123 FROM audit_seals WHERE day = $1", NEXT)
    async with triggers_disabled(conn, "audit_events"):
        await conn.execute("UPDATE audit_events SET outcome = 'error' WHERE seq = $1", target)
    bad = _run(env, "audit", "verify")
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0] == f"first bad seq: {target}"
    assert "altered" in lines[1]


async def test_verify_shows_progress_on_a_terminal(
    sealed: Path, database_url: str, tmp_path: Path
) -> None:
    returncode, shown = await asyncio.to_thread(_run_on_terminal, _env(tmp_path, database_url))
    assert returncode == 0
    assert b"\rverifying: day 2/2 (100%), 1,200 events" in shown


def test_verify_rejects_a_bad_date(tmp_path: Path) -> None:
    result = _run(_env(tmp_path, "postgresql://nobody@/x"), "audit", "verify", "--from", "10/03")
    assert result.returncode == 2
    assert "is not a date" in result.stderr


async def test_verify_export_with_a_pem_file_and_with_the_configured_key(
    sealed: Path, database_url: str, tmp_path: Path
) -> None:
    signer = Signer(audit_settings(tmp_path).signing_key)
    pem = tmp_path / "audit-public-key.pem"
    pem.write_text(signer.public_pem())
    offline = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    result = _run(
        offline, "audit", "verify-export", str(sealed / "2025-03-10"), "--public-key", str(pem)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("intact: 600 rows, head ")
    configured = _run(
        _env(tmp_path, database_url), "audit", "verify-export", str(sealed / "2025-03-11")
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr


async def test_verify_export_says_what_failed(sealed: Path, tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_text(Signer(audit_settings(tmp_path).signing_key).public_pem())
    path = sealed / "2025-03-10" / "events-0000.parquet"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    offline = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    result = _run(
        offline, "audit", "verify-export", str(sealed / "2025-03-10"), "--public-key", str(pem)
    )
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: events-0000.parquet has SHA-256")
    missing = _run(
        offline, "audit", "verify-export", str(tmp_path / "nowhere"), "--public-key", str(pem)
    )
    assert missing.returncode == 1 and "not an exported day" in missing.stdout

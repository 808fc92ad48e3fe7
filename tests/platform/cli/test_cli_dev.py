"""``examstutor dev`` (what ``make run`` runs): start, seed once, Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from examstutor_platform.db import EmbeddedPostgres

EXAMSTUTOR = str(Path(sys.executable).parent / "examstutor")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    yield folder
    EmbeddedPostgres(folder / "postgres").destroy()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(home: Path, *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    env["EXAMSTUTOR_HOME"] = str(home)
    process = subprocess.Popen(
        [EXAMSTUTOR, "dev", "--api-port", str(_free_port()), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("Press Ctrl-C"):
            return process, lines
    process.wait(30)
    raise AssertionError("dev did not start:\n" + "\n".join(lines))


def _interrupt(process: subprocess.Popen[str]) -> list[str]:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return out.splitlines()


async def _counts(url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(url)
    try:
        students = await conn.fetchval("SELECT count(*) FROM students")
        events = await conn.fetchval("SELECT count(*) FROM audit_events")
        keys = await conn.fetchval("SELECT count(*) FROM data_keys WHERE status = 'primary'")
        return students, events, keys
    finally:
        await conn.close()


def test_dev_seeds_once_and_ctrl_c_stops_postgres(home: Path) -> None:
    process, lines = _start(home)
    try:
        text = "\n".join(lines)
        assert "embedded PostgreSQL 18" in text
        assert "6 students" in text
        server = EmbeddedPostgres(home / "postgres")
        students, events, keys = asyncio.run(_counts(server.url("examstutor")))
        assert (students, events, keys) == (6, 3000, 1)
    finally:
        tail = _interrupt(process)
    assert tail[-1] == "stopped"
    assert not EmbeddedPostgres(home / "postgres").is_running()

    again, lines = _start(home)
    try:
        assert any("already seeded" in line for line in lines)
        students, events, keys = asyncio.run(_counts(server.url("examstutor")))
        assert (students, events, keys) == (6, 3000, 1)
    finally:
        _interrupt(again)
    assert not server.is_running()

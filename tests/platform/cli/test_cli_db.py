"""``examstutor db`` against the embedded server and against any server reached by URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from examstutor_platform.db import EmbeddedPostgres

EXAMSTUTOR = str(Path(sys.executable).parent / "examstutor")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXAMSTUTOR, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    env["EXAMSTUTOR_HOME"] = str(home)
    return env


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    yield folder
    EmbeddedPostgres(folder / "postgres").destroy()


def test_embedded_path_starts_migrates_and_is_idempotent(home: Path) -> None:
    env = _clean_env(home)
    url = _run(env, "db", "url")
    assert url.returncode == 0, url.stderr
    assert url.stdout.strip().startswith("postgresql://postgres@/examstutor?host=")
    first = _run(env, "db", "migrate")
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core_schema.sql" in first.stdout
    again = _run(env, "db", "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "database is up to date"
    secrets_file = home / "secrets.env"
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_external_server_reached_by_url(tmp_path: Path, home: Path) -> None:
    port = _free_port()
    other = EmbeddedPostgres(tmp_path / "external", port=port)
    other.start()
    try:
        env = _clean_env(home)
        env["EXAMSTUTOR_DATABASE_URL"] = other.tcp_url("postgres")
        url = _run(env, "db", "url")
        assert url.stdout.strip() == f"postgresql://postgres@127.0.0.1:{port}/postgres"
        migrated = _run(env, "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "applied 0003_roles.sql" in migrated.stdout
        assert not (home / "postgres").exists(), "no embedded server when a URL is given"
    finally:
        other.destroy()


def test_unreachable_server_is_one_line_on_stderr(home: Path) -> None:
    env = _clean_env(home)
    env["EXAMSTUTOR_DATABASE_URL"] = f"postgresql://nobody:hunter2@127.0.0.1:{_free_port()}/x"
    result = _run(env, "db", "migrate")
    assert result.returncode == 1
    assert result.stderr.startswith("examstutor: error: cannot connect to the database")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_url_password_is_masked_unless_asked(home: Path) -> None:
    env = _clean_env(home)
    env["EXAMSTUTOR_DATABASE_URL"] = "postgresql://app:hunter2@db.internal:5432/examstutor"
    assert (
        _run(env, "db", "url").stdout.strip() == "postgresql://app:***@db.internal:5432/examstutor"
    )
    shown = _run(env, "db", "url", "--show-password").stdout.strip()
    assert shown == "postgresql://app:hunter2@db.internal:5432/examstutor"


def test_production_refuses_to_start_without_secrets(home: Path) -> None:
    env = _clean_env(home)
    env["EXAMSTUTOR_ENV"] = "prod"
    env["EXAMSTUTOR_DATABASE_URL"] = "postgresql://app@db/examstutor"
    result = _run(env, "db", "migrate")
    assert result.returncode == 1
    assert "EXAMSTUTOR_KEKS is not set" in result.stderr
    assert not home.exists(), "prod must not generate dev secrets"


def test_new_kek_is_accepted_by_settings() -> None:
    from examstutor_platform.settings import parse_keks

    result = subprocess.run(
        [EXAMSTUTOR, "keys", "new-kek", "--id", "k2026"],
        capture_output=True,
        text=True,
        check=True,
    )
    (kek,) = parse_keks(result.stdout.strip())
    assert kek.id == "k2026"
    assert len(kek.key) == 32

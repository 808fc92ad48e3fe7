"""``examstutor staff create``: password on stdin, exit 1 and one line when the email exists."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg

from examstutor_platform.crypto import FieldCipher, Pseudonymiser, verify_password
from examstutor_platform.crypto.keyring import DataKeyStore
from examstutor_platform.db import connect
from examstutor_platform.settings import Settings

EXAMSTUTOR = str(Path(sys.executable).parent / "examstutor")
PASSWORD = "a long staff passphrase"


def _env(home: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXAMSTUTOR_")}
    env["EXAMSTUTOR_HOME"] = str(home)
    env["EXAMSTUTOR_DATABASE_URL"] = database_url
    return env


def _create(env: dict[str, str], stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXAMSTUTOR, "staff", "create", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_creates_once_then_exit_1(tmp_path: Path, database_url: str) -> None:
    home = tmp_path / "home"
    env = _env(home, database_url)
    args = ("--email", "Ife.Auditor@Examstutor.ng", "--role", "auditor", "--password-stdin")
    first = _create(env, PASSWORD + "\n", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created auditor account ")
    assert PASSWORD not in first.stdout + first.stderr

    settings = Settings.from_env(env)
    conn = await connect(database_url)
    try:
        row = await conn.fetchrow("SELECT id, role, email_enc, password_hash FROM staff")
        assert row is not None
        ring = await DataKeyStore().load(conn, settings.keks)
        event = await conn.fetchrow("SELECT * FROM audit_events")
    finally:
        await conn.close()
    assert str(row["id"]) in first.stdout
    assert row["role"] == "auditor"
    assert verify_password(PASSWORD, row["password_hash"])  # the newline is not part of it
    assert row["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    email = FieldCipher(ring).decrypt_text(
        row["email_enc"], table="staff", column="email_enc", row_id=str(row["id"])
    )
    assert email == "Ife.Auditor@Examstutor.ng"
    assert event is not None
    assert (event["action"], event["resource"], event["outcome"]) == (
        "admin.role_assignment",
        "staff",
        "success",
    )
    assert event["resource_id"] == Pseudonymiser(settings.pseudonym_key).pseudonym(
        "staff", str(row["id"])
    )

    again = _create(
        env, PASSWORD, "--email", "ife.auditor@examstutor.ng", "--role", "admin", "--password-stdin"
    )
    assert again.returncode == 1
    assert again.stderr.startswith("examstutor: error: a staff account with that email")
    assert len(again.stderr.strip().splitlines()) == 1
    assert "Traceback" not in again.stderr
    conn2 = await asyncpg.connect(database_url)
    try:
        assert await conn2.fetchval("SELECT count(*) FROM staff") == 1
    finally:
        await conn2.close()


def test_short_password_and_bad_email_are_refused(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path / "home", database_url)
    short = _create(
        env, "elevenchars", "--email", "a@examstutor.ng", "--role", "steward", "--password-stdin"
    )
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr
    assert len(short.stderr.strip().splitlines()) == 1
    bad = _create(env, PASSWORD, "--email", "not-an-email", "--role", "steward", "--password-stdin")
    assert bad.returncode == 1
    assert bad.stderr.startswith("examstutor: error: --email")
    role = _create(
        env, PASSWORD, "--email", "a@examstutor.ng", "--role", "student", "--password-stdin"
    )
    assert role.returncode == 2  # argparse: not one of the choices
    assert "invalid choice" in role.stderr


async def test_an_unmigrated_database_is_one_line(
    tmp_path: Path, admin_url: str, url_for: Callable[[str], str]
) -> None:
    name = f"empty_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        env = _env(tmp_path / "home", url_for(name))
        result = _create(
            env, PASSWORD, "--email", "a@examstutor.ng", "--role", "admin", "--password-stdin"
        )
        assert result.returncode == 1
        assert "examstutor db migrate" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

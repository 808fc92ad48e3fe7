"""Fixtures shared by every test: one real PostgreSQL per session, a fresh database per test.

The server is the embedded PostgreSQL 18 in a temporary folder, or the server
named by ``EXAMSTUTOR_TEST_ADMIN_URL`` (a superuser URL of any PostgreSQL).
A template database is migrated once; each test gets ``CREATE DATABASE … TEMPLATE``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from examstutor_platform.db import EmbeddedPostgres, connect, migrate

TEMPLATE = "examstutor_template"


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _build_template(admin_url: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await admin.close()
    conn = await connect(with_database(admin_url, TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres | None]:
    """The session's embedded server (None when EXAMSTUTOR_TEST_ADMIN_URL names another)."""
    if os.environ.get("EXAMSTUTOR_TEST_ADMIN_URL"):
        yield None
        return
    # outside pytest's tmp tree: pytest resets that tree to mode 0700 when another
    # session starts, which would lock out the server's system user
    folder = Path(tempfile.mkdtemp(prefix="examstutor-test-pg-"))
    server = EmbeddedPostgres(folder / "data")
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_url(pg_server: EmbeddedPostgres | None) -> str:
    """Superuser URL of the session's server, with the migrated template built."""
    url = os.environ.get("EXAMSTUTOR_TEST_ADMIN_URL") or (
        pg_server.url() if pg_server is not None else ""
    )
    asyncio.run(_build_template(url))
    return url


@pytest.fixture(scope="session")
def url_for(admin_url: str) -> Callable[[str], str]:
    """Build the superuser URL of another database on the session's server."""
    return lambda database: with_database(admin_url, database)


@pytest.fixture
async def database_url(admin_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    finally:
        await admin.close()
    try:
        yield with_database(admin_url, name)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection (platform codecs) to this test's database."""
    connection = await connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()

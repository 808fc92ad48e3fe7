"""The database session of a retention or erasure run: a connection from whatever the
caller holds, and the advisory lock that keeps runs of the same work apart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from examstutor_platform.db.pool import DbConnection, connect
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention.tables import RetentionError

__all__ = [
    "DB_ERRORS",
    "RetentionBusyError",
    "Target",
    "asynchronous_commits",
    "connection_for",
    "exclusive",
]

#: what the engines accept as a database: a connection, a pool, or a URL
Target = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool | str
#: what a lost or failing database raises
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

_Q = load_queries("examstutor_platform.retention", "engine.sql")


class RetentionBusyError(RetentionError):
    """Another run holds the lock this run needs (same category, same erasure request)."""


@contextlib.asynccontextmanager
async def connection_for(target: Target) -> AsyncIterator[DbConnection]:
    """One connection for the block: ``target`` itself, one from the pool, or a new one
    (platform codecs) to the URL, closed afterwards."""
    if isinstance(target, str):
        conn = await connect(target)
        try:
            yield conn
        finally:
            with contextlib.suppress(*DB_ERRORS):
                await conn.close()
    elif isinstance(target, asyncpg.Pool):
        async with target.acquire() as pooled:
            yield pooled
    else:
        yield target


@contextlib.asynccontextmanager
async def exclusive(conn: DbConnection, key: str, wait_seconds: float) -> AsyncIterator[None]:
    """Hold the session advisory lock named ``key`` for the block, waiting up to
    ``wait_seconds`` for it (the server session of a run killed a moment ago may still
    be finishing its statement); :class:`RetentionBusyError` after that."""
    if conn.is_in_transaction():
        raise RetentionError(
            "retention and erasure commit batch by batch: call them outside a transaction"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not await conn.fetchval(_Q["try_lock"], key):
        if loop.time() >= deadline:
            raise RetentionBusyError(f"another run holds {key!r}; try again when it ends")
        await asyncio.sleep(0.1)
    try:
        yield
    finally:
        with contextlib.suppress(*DB_ERRORS):
            await conn.fetchval(_Q["unlock"], key)


@contextlib.asynccontextmanager
async def asynchronous_commits(conn: DbConnection) -> AsyncIterator[None]:
    """Commit without waiting for the WAL flush in the block (the session's
    ``synchronous_commit`` off, then back as it was). A transaction that must be durable
    when it returns sets it on for itself (``SET LOCAL``)."""
    row = await conn.fetchrow(_Q["asynchronous_commits"])
    assert row is not None
    try:
        yield
    finally:
        with contextlib.suppress(*DB_ERRORS):  # a lost connection takes the setting along
            await conn.fetchval(_Q["restore_synchronous_commit"], row["previous"])

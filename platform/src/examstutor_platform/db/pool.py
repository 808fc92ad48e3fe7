"""asyncpg connections and pools with the platform's codecs (jsonb as Python values)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: a plain connection or one borrowed from a pool: repositories take either
DbConnection = asyncpg.Connection | PoolConnectionProxy

__all__ = ["DbConnection", "connect", "create_pool", "init_connection"]


_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: Any) -> bytes:
    return _JSONB_VERSION + json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _decode_jsonb(data: bytes) -> Any:
    return json.loads(data[1:])


async def init_connection(conn: asyncpg.Connection) -> None:
    """Set the codecs every platform connection uses: jsonb as Python values, in
    binary format so that ``copy_records_to_table`` can write jsonb columns too."""
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        schema="pg_catalog",
        format="binary",
    )


async def connect(url: str, **kwargs: Any) -> asyncpg.Connection:
    """One connection with the platform's codecs."""
    conn: asyncpg.Connection = await asyncpg.connect(url, **kwargs)
    await init_connection(conn)
    return conn


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any
) -> asyncpg.Pool:
    """A pool whose connections carry the platform's codecs."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=init_connection, **kwargs
    )
    return pool

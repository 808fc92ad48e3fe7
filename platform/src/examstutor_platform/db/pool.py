"""asyncpg connections and pools with the platform's codecs (jsonb as Python values)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

__all__ = ["connect", "create_pool", "init_connection"]


async def init_connection(conn: asyncpg.Connection) -> None:
    """Set the codecs every platform connection uses."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        decoder=json.loads,
        schema="pg_catalog",
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

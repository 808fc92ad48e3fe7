"""Which database the platform uses: ``EXAMSTUTOR_DATABASE_URL``, or the embedded server."""

from __future__ import annotations

import asyncio

import asyncpg

from examstutor_platform.db.embedded import EmbeddedPostgres
from examstutor_platform.settings import Settings

__all__ = ["APP_DATABASE", "DAGSTER_DATABASE", "embedded_server", "ensure_databases", "resolve_url"]

APP_DATABASE = "examstutor"
DAGSTER_DATABASE = "dagster"


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    """The embedded server whose data lives in ``EXAMSTUTOR_HOME/postgres``."""
    return EmbeddedPostgres(settings.home / "postgres")


async def ensure_databases(admin_url: str, names: tuple[str, ...]) -> None:
    """Create each database in ``names`` that does not exist yet."""
    conn = await asyncpg.connect(admin_url)
    try:
        for name in names:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def resolve_url(settings: Settings) -> str:
    """The application database URL; starts the embedded server (and creates its
    ``examstutor`` and ``dagster`` databases) when no URL is configured."""
    if settings.database_url is not None:
        return settings.database_url
    server = embedded_server(settings)
    server.start()
    asyncio.run(ensure_databases(server.url(), (APP_DATABASE, DAGSTER_DATABASE)))
    return server.url(APP_DATABASE)

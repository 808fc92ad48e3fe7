"""``examstutor db migrate`` and ``examstutor db url``."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from examstutor_platform.db import connect, migrate
from examstutor_platform.db.location import resolve_url
from examstutor_platform.errors import DatabaseError
from examstutor_platform.settings import Settings, redact_url

__all__ = ["register", "run_migrations"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``db`` and its sub-commands."""
    parser = commands.add_parser("db", help="database: migrate, url")
    sub = parser.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    migrate_parser = sub.add_parser("migrate", help="apply pending migrations (idempotent)")
    migrate_parser.set_defaults(handler=_migrate)
    url_parser = sub.add_parser(
        "url", help="print the database URL in use (starts the embedded server if it is in use)"
    )
    url_parser.add_argument(
        "--show-password", action="store_true", help="print the password instead of ***"
    )
    url_parser.set_defaults(handler=_url)


async def run_migrations(url: str) -> list[str]:
    """Apply pending migrations to the database at ``url``; return their names."""
    try:
        conn = await connect(url)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}") from exc
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def _migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    applied = asyncio.run(run_migrations(resolve_url(settings)))
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("database is up to date")
    return 0


def _url(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = resolve_url(settings)
    print(url if args.show_password else redact_url(url))
    return 0

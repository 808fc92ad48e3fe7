"""The database: embedded server, migrations, connections, named queries."""

from __future__ import annotations

from examstutor_platform.db.embedded import EmbeddedPostgres, bin_dir
from examstutor_platform.db.migrate import migrate, pending
from examstutor_platform.db.pool import connect, create_pool, init_connection
from examstutor_platform.db.queries import load_queries

__all__ = [
    "EmbeddedPostgres",
    "bin_dir",
    "connect",
    "create_pool",
    "init_connection",
    "load_queries",
    "migrate",
    "pending",
]

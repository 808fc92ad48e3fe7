import asyncpg


async def test_template_is_migrated(conn: asyncpg.Connection) -> None:
    versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [1, 2, 3]

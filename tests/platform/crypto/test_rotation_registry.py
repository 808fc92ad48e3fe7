"""The encrypted-column registry matches the live schema, and every rendered rotation
query is valid SQL for its table."""

from __future__ import annotations

import asyncpg
import pytest

from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    EmbeddedCiphertext,
    EncryptedTable,
    encrypted_table,
)
from examstutor_platform.crypto.rotation_queries import QUERIES, TABLE_QUERIES


async def test_registry_names_every_enc_column_of_the_schema(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT c.table_name, c.column_name, c.data_type
          FROM information_schema.columns c
          JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
           AND c.column_name LIKE '%\\_enc'
        """
    )
    in_schema = {(r["table_name"], r["column_name"]) for r in rows}
    registered = {(t.name, c) for t in ENCRYPTED_TABLES for c in t.columns}
    assert in_schema, "the schema has no *_enc columns at all?"
    assert in_schema - registered == set(), "encrypted columns missing from ENCRYPTED_TABLES"
    assert registered - in_schema == set(), "ENCRYPTED_TABLES names columns the schema lacks"
    assert {r["data_type"] for r in rows} == {"bytea"}


async def test_registered_tables_have_their_id_key_version_and_jsonb(
    conn: asyncpg.Connection,
) -> None:
    for table in ENCRYPTED_TABLES:
        types = {
            r["column_name"]: r["udt_name"]
            for r in await conn.fetch(
                "SELECT column_name, udt_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = $1",
                table.name,
            )
        }
        assert types[table.id_column] == table.id_type, table.name
        assert types["key_version"] == "int4", table.name
        for embedded in table.embedded:
            assert types[embedded.column] == "jsonb", (table.name, embedded.column)
        primary_key = await conn.fetchval(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indrelid = $1::regclass AND i.indisprimary",
            table.name,
        )
        assert primary_key == table.id_column, table.name


async def test_every_rendered_query_prepares(conn: asyncpg.Connection) -> None:
    for name, sql in QUERIES.items():
        assert await conn.prepare(sql) is not None, name
    for queries in TABLE_QUERIES.values():
        for sql in (
            queries.first_batch,
            queries.next_batch,
            queries.count_off_primary,
            queries.rewrap_batch,
            queries.headers_in_use,
        ):
            assert "{" not in sql.replace("'{", ""), sql
            await conn.prepare(sql)
    assert list(TABLE_QUERIES) == [t.name for t in ENCRYPTED_TABLES]


def test_lookup_and_validation() -> None:
    assert encrypted_table("staff").columns == ("email_enc",)
    assert encrypted_table("outbox").aad_columns == ("recipient_enc", "payload_token")
    with pytest.raises(KeyError, match="students, staff, questions, outbox"):
        encrypted_table("credentials")
    with pytest.raises(ValueError, match="identifier"):
        EncryptedTable("students; DROP TABLE x", "id", "uuid", ("email_enc",))
    with pytest.raises(ValueError, match="end in _enc"):
        EncryptedTable("students", "id", "uuid", ("email",))
    with pytest.raises(ValueError, match="at least one"):
        EncryptedTable("students", "id", "uuid", ())
    with pytest.raises(ValueError, match="named twice"):
        EncryptedTable(
            "outbox",
            "id",
            "uuid",
            ("token_enc",),
            (EmbeddedCiphertext("payload", "token_enc", "token_enc"),),
        )
    with pytest.raises(ValueError, match="identifier"):
        EmbeddedCiphertext("payload", "it's", "payload_token")
    two = (
        EmbeddedCiphertext("payload", "a_enc", "payload_a"),
        EmbeddedCiphertext("payload", "b_enc", "payload_b"),
    )
    with pytest.raises(ValueError, match="one embedded ciphertext per jsonb column"):
        EncryptedTable("outbox", "id", "uuid", ("recipient_enc",), two)

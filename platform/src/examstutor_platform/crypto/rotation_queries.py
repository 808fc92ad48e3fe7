"""The SQL of data-key rotation: rotation.sql's plain queries, and its ``table_*``
templates rendered once for each table of :data:`ENCRYPTED_TABLES`.

Rendering only places identifiers from that constant registry (checked to be plain
lowercase identifiers there); values always travel as ``$n`` parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from examstutor_platform.crypto.encrypted_columns import (
    ENCRYPTED_TABLES,
    EmbeddedCiphertext,
    EncryptedTable,
)
from examstutor_platform.db.queries import load_queries

__all__ = ["QUERIES", "TABLE_QUERIES", "TableQueries", "render_table_queries"]

_SQL = load_queries("examstutor_platform.crypto", "rotation.sql")
_TEMPLATE_PREFIX = "table_"
#: the rotation queries that apply to no table in particular, by name
QUERIES: Mapping[str, str] = MappingProxyType(
    {name: sql for name, sql in _SQL.items() if not name.startswith(_TEMPLATE_PREFIX)}
)
#: first parameter number of the per-field arrays in table_rewrap_batch
_FIRST_FIELD_PARAMETER = 8


@dataclass(frozen=True)
class TableQueries:
    """The rotation queries of one encrypted table, ready for asyncpg."""

    table: EncryptedTable
    first_batch: str
    next_batch: str
    count_off_primary: str
    rewrap_batch: str
    headers_in_use: str


def _read(embedded: EmbeddedCiphertext) -> str:
    """The text of an embedded ciphertext, as the rows hold it now."""
    return f"({embedded.column} ->> '{embedded.key}')"


def _header_of(embedded: EmbeddedCiphertext) -> str:
    """The first 5 bytes of an embedded ciphertext: its first 8 base64url characters
    (a whole 6 bytes, no padding needed) decoded."""
    eight = f"translate(left({_read(embedded)}, 8), '-_', '+/')"
    return f"substring(decode({eight}, 'base64') FOR 5)"


def _assign(embedded: EmbeddedCiphertext, new: str) -> str:
    path = f"ARRAY['{embedded.key}']"
    return (
        f"{embedded.column} = CASE WHEN v.{new} IS NULL THEN t.{embedded.column} "
        f"ELSE jsonb_set(t.{embedded.column}, {path}, to_jsonb(v.{new})) END"
    )


def render_table_queries(table: EncryptedTable) -> TableQueries:
    """Fill rotation.sql's ``table_*`` templates for ``table``."""
    columns, embedded = table.columns, table.embedded
    count = len(columns) + len(embedded)
    new = [f"new_{i}" for i in range(1, count + 1)]
    types = ["bytea"] * len(columns) + ["text"] * len(embedded)
    parameters = range(_FIRST_FIELD_PARAMETER, _FIRST_FIELD_PARAMETER + count)
    reads = [*columns, *(_read(e) for e in embedded)]
    pieces = {
        "table": table.name,
        "id": table.id_column,
        "id_type": table.id_type,
        "fields": ", ".join([*columns, *(f"{_read(e)} AS {e.aad_column}" for e in embedded)]),
        "has_ciphertext": " OR ".join(f"{r} IS NOT NULL" for r in reads),
        "header_differs": " OR ".join(
            [f"substring({c} FOR 5) <> $2" for c in columns]
            + [f"{_header_of(e)} <> $2" for e in embedded]
        ),
        "assignments": ", ".join(
            [f"{c} = v.{n}" for c, n in zip(columns, new, strict=False)]
            + [_assign(e, n) for e, n in zip(embedded, new[len(columns) :], strict=True)]
        ),
        "unnest": ", ".join(f"${p}::{t}[]" for p, t in zip(parameters, types, strict=True)),
        "names": ", ".join(new),
        "headers": ", ".join(
            [f"(substring({c} FOR 5))" for c in columns] + [f"({_header_of(e)})" for e in embedded]
        ),
    }

    def render(name: str) -> str:
        return _SQL[_TEMPLATE_PREFIX + name].format_map(pieces)

    return TableQueries(
        table=table,
        first_batch=render("first_batch"),
        next_batch=render("next_batch"),
        count_off_primary=render("count_off_primary"),
        rewrap_batch=render("rewrap_batch"),
        headers_in_use=render("headers_in_use"),
    )


#: rendered queries of every encrypted table, by table name, in registry order
TABLE_QUERIES: Mapping[str, TableQueries] = MappingProxyType(
    {table.name: render_table_queries(table) for table in ENCRYPTED_TABLES}
)

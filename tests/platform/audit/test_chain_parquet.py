"""The seal (rows from the database) and the verifier (rows from Parquet) hash the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from examstutor_platform.audit.canonical import EXPORT_COLUMNS, export_row
from examstutor_platform.audit.chain import GENESIS, ChainBuilder, verify_chain
from examstutor_platform.audit.events import AuditRecord

# imported this way because pyarrow ships no type information
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        *((name, pa.string()) for name in EXPORT_COLUMNS[2:]),
    ]
)


def test_rows_read_back_from_parquet_verify(tmp_path: Path) -> None:
    lagos = timezone(timedelta(hours=1))
    records = [
        AuditRecord(
            seq=100 + i,
            occurred_at=datetime(2026, 11, 25, 0, 0, i, 250 * i, tzinfo=lagos),
            actor_pseudonym=f"stu_{i:02d}",
            actor_role="student",
            action="student.practice",
            resource="practice_sessions",
            resource_id=None if i % 2 else f"ps_{i}",
            outcome="success",
            severity="low",
            ip_prefix=None,
            request_id=f"req-{i}",
            details={"exam": "WAEC", "subject": "Mathématiques", "scores": {"q": [i, 1.5]}},
        )
        for i in range(6)
    ]
    builder = ChainBuilder(GENESIS)
    rows = []
    for record in records:
        row = export_row(record)
        row["chain_hash"] = builder.add(row)
        rows.append(row)

    path = tmp_path / "events-0000.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, compression="zstd")
    read_back = pq.read_table(path).to_pylist()

    assert read_back[0]["occurred_at"].utcoffset() == timedelta(0)
    assert isinstance(read_back[0]["details"], str)
    assert verify_chain(GENESIS, read_back, expected_head=builder.head) == builder.head
    assert [row["occurred_at"] for row in read_back] == [
        record.occurred_at.astimezone(UTC) for record in records
    ]

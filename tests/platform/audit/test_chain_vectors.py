"""Known answers for the audit chain: literal canonical bytes and chain hashes (CONTRACT §6).

The literals were computed once and pasted here. Any change to canonicalisation
or to the chain step breaks an auditor's offline verification of every exported
day, so it must break this test first.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from examstutor_platform.audit.canonical import EXPORT_COLUMNS, canonical, export_row
from examstutor_platform.audit.chain import GENESIS, ChainBuilder, chain_hashes, chain_step
from examstutor_platform.audit.events import AuditRecord

WAT = timezone(timedelta(hours=1))  # Africa/Lagos: the timestamp is still hashed in UTC

RECORDS = (
    AuditRecord(
        seq=5001,
        occurred_at=datetime(2026, 11, 25, 8, 15, 30, 123456, tzinfo=WAT),
        actor_pseudonym="stu_3f9a0c2b7e41",
        actor_role="student",
        action="student.question",
        resource="questions",
        resource_id="q_7d1e0b",
        outcome="success",
        severity="low",
        ip_prefix="102.89.0.0/16",
        request_id="req-0001",
        details={"subject": "Yorùbá", "preview": 'Ẹ kú àárọ̀ — "ọ̀rọ̀" ✓'},
    ),
    AuditRecord(
        seq=5002,
        occurred_at=datetime(2026, 11, 25, 7, 16, 0, 0, tzinfo=UTC),
        actor_pseudonym="anon",
        actor_role="anonymous",
        action="auth.login_failed",
        resource="auth",
        resource_id=None,
        outcome="denied",
        severity="medium",
        ip_prefix=None,
        request_id="req-0002",
        details={},
    ),
    AuditRecord(
        seq=5004,
        occurred_at=datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=UTC),
        actor_pseudonym="staff_91c2",
        actor_role="admin",
        action="admin.role_assignment",
        resource="staff",
        resource_id="staff_5a0b",
        outcome="success",
        severity="high",
        ip_prefix="41.58.0.0/16",
        request_id=None,
        details={
            "changes": {"role": {"to": "steward", "from": None}},
            "batch": [3, 1, {"z": True, "a": 1.5}],
        },
    ),
)

CANONICAL = (
    (
        r'{"action":"student.question","actor_pseudonym":"stu_3f9a0c2b7e41",'
        r'"actor_role":"student",'
        r'"details":"{\"preview\":\"Ẹ kú àárọ̀ — \\\"ọ̀rọ̀\\\" ✓\",\"subject\":\"Yorùbá\"}",'
        r'"ip_prefix":"102.89.0.0/16","occurred_at":"2026-11-25T07:15:30.123456Z",'
        r'"outcome":"success","request_id":"req-0001","resource":"questions",'
        r'"resource_id":"q_7d1e0b","seq":5001,"severity":"low"}'
    ).encode(),
    (
        rb'{"action":"auth.login_failed","actor_pseudonym":"anon","actor_role":"anonymous",'
        rb'"details":"{}","ip_prefix":null,"occurred_at":"2026-11-25T07:16:00.000000Z",'
        rb'"outcome":"denied","request_id":"req-0002","resource":"auth","resource_id":null,'
        rb'"seq":5002,"severity":"medium"}'
    ),
    (
        rb'{"action":"admin.role_assignment","actor_pseudonym":"staff_91c2","actor_role":"admin",'
        rb'"details":"{\"batch\":[3,1,{\"a\":1.5,\"z\":true}],'
        rb'\"changes\":{\"role\":{\"from\":null,\"to\":\"steward\"}}}",'
        rb'"ip_prefix":"41.58.0.0/16","occurred_at":"2026-11-25T23:59:59.999999Z",'
        rb'"outcome":"success","request_id":null,"resource":"staff","resource_id":"staff_5a0b",'
        rb'"seq":5004,"severity":"high"}'
    ),
)

CHAIN = (
    "43311f1ca0c8b9a52a5858eac78e1362c9f333eda2561d78b5d77f44c2352db9",
    "8dfa9941907f22b5b9b5f77578e857f36bd2ae388ef089052c155cbc3775ecae",
    "2b72717a26899e362477f1dc2255f9d1b465308b83071b9c9b3de6119b293f05",
)


def parquet_like(record: AuditRecord) -> dict[str, Any]:
    """The row as an offline verifier reads it back: UTC timestamp, details as JSON text."""
    row = export_row(record)
    row["occurred_at"] = record.occurred_at.astimezone(UTC)
    return row


def test_export_row_has_the_contract_columns_in_order() -> None:
    row = export_row(RECORDS[0])
    assert (*row, "chain_hash") == EXPORT_COLUMNS
    assert row["details"] == '{"preview":"Ẹ kú àárọ̀ — \\"ọ̀rọ̀\\" ✓","subject":"Yorùbá"}'


@pytest.mark.parametrize("index", range(3))
def test_canonical_bytes_are_the_known_answer(index: int) -> None:
    assert canonical(export_row(RECORDS[index])) == CANONICAL[index]
    assert canonical(parquet_like(RECORDS[index])) == CANONICAL[index]


def test_canonical_keeps_non_ascii_as_utf8() -> None:
    assert "Ẹ kú àárọ̀".encode() in CANONICAL[0]
    assert b"\\u" not in CANONICAL[0]


def test_chain_hashes_are_the_known_answer() -> None:
    rows = [export_row(record) for record in RECORDS]
    assert chain_hashes(GENESIS, rows) == list(CHAIN)


def test_chain_step_is_sha256_of_previous_head_and_canonical_bytes() -> None:
    prev = GENESIS
    for canonical_bytes, expected in zip(CANONICAL, CHAIN, strict=True):
        assert hashlib.sha256(bytes.fromhex(prev) + canonical_bytes).hexdigest() == expected
        prev = expected
    assert chain_step(CHAIN[0], export_row(RECORDS[1])) == CHAIN[1]


def test_builder_matches_the_known_answer() -> None:
    builder = ChainBuilder(GENESIS)
    assert builder.head == GENESIS
    for record, expected in zip(RECORDS, CHAIN, strict=True):
        assert builder.add(parquet_like(record)) == expected
    assert builder.head == CHAIN[-1]
    assert (builder.count, builder.first_seq, builder.last_seq) == (3, 5001, 5004)


def test_chain_hash_member_is_not_hashed() -> None:
    row = export_row(RECORDS[1]) | {"chain_hash": CHAIN[1]}
    assert canonical(row) == CANONICAL[1]

"""Tampering with a chained day is found, and the error names the first bad ``seq``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from examstutor_platform.audit.canonical import canonical, export_row
from examstutor_platform.audit.chain import (
    GENESIS,
    ChainBuilder,
    chain_hashes,
    chain_step,
    verify_chain,
)
from examstutor_platform.audit.events import AuditRecord
from examstutor_platform.errors import ChainBrokenError

START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def make_rows(seqs: list[int], prev: str = GENESIS) -> list[dict[str, Any]]:
    """Export rows for ``seqs`` carrying their chain hashes from ``prev``."""
    rows = [
        export_row(
            AuditRecord(
                seq=seq,
                occurred_at=START + timedelta(seconds=seq),
                actor_pseudonym=f"stu_{seq:04x}",
                actor_role="student",
                action="data.read",
                resource="students",
                resource_id=f"stu_{seq:04x}",
                outcome="success",
                severity="low",
                ip_prefix="102.89.0.0/16",
                request_id=f"req-{seq}",
                details={"fields": ["full_name"], "n": seq},
            )
        )
        for seq in seqs
    ]
    for row, chain_hash in zip(rows, chain_hashes(prev, rows), strict=True):
        row["chain_hash"] = chain_hash
    return rows


def rehash(rows: list[dict[str, Any]], prev: str = GENESIS) -> list[dict[str, Any]]:
    """What a forger who knows the algorithm does: recompute every chain_hash in list order."""
    head = prev
    out = []
    for row in rows:
        head = chain_step(head, row)
        out.append(row | {"chain_hash": head})
    return out


ROWS = make_rows([10, 11, 12, 14, 15])


def test_intact_chain_returns_its_head() -> None:
    assert verify_chain(GENESIS, ROWS) == ROWS[-1]["chain_hash"]
    assert (
        verify_chain(GENESIS, ROWS, expected_head=ROWS[-1]["chain_hash"]) == ROWS[-1]["chain_hash"]
    )


def test_chain_continues_from_the_previous_day() -> None:
    day_one = make_rows([1, 2])
    day_two = make_rows([3, 4], prev=day_one[-1]["chain_hash"])
    assert verify_chain(day_one[-1]["chain_hash"], day_two) == day_two[-1]["chain_hash"]
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, day_two)
    assert caught.value.seq == 3


def test_empty_day_keeps_the_previous_head() -> None:
    assert verify_chain(ROWS[-1]["chain_hash"], []) == ROWS[-1]["chain_hash"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "denied"),
        ("resource_id", None),
        ("details", '{"fields":["full_name","phone"],"n":12}'),
        ("occurred_at", START + timedelta(seconds=13)),
        ("seq", 13),
    ],
)
def test_changed_field_names_its_seq(field: str, value: object) -> None:
    rows = [dict(row) for row in ROWS]
    rows[2][field] = value
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == rows[2]["seq"]
    assert f"seq {rows[2]['seq']}" in str(caught.value)


def test_changed_chain_hash_names_its_seq() -> None:
    rows = [dict(row) for row in ROWS]
    rows[1]["chain_hash"] = "f" * 64
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 11


def test_removed_row_names_the_row_after_it() -> None:
    rows = ROWS[:2] + ROWS[3:]
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 14


def test_reordered_rows_name_the_first_misplaced_seq() -> None:
    rows = [ROWS[0], ROWS[2], ROWS[1], *ROWS[3:]]
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 12


def test_reordered_and_rehashed_rows_break_on_seq_order() -> None:
    rows = rehash([ROWS[0], ROWS[2], ROWS[1], *ROWS[3:]])
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 11
    assert "follows seq 12" in str(caught.value)


def test_repeated_seq_is_broken() -> None:
    rows = rehash([ROWS[0], ROWS[1], ROWS[1], ROWS[2]])
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 11


def test_edit_with_rehash_is_caught_by_the_sealed_head() -> None:
    sealed_head = ROWS[-1]["chain_hash"]
    forged = rehash([ROWS[0], ROWS[1] | {"outcome": "denied"}, *ROWS[2:]])
    assert verify_chain(GENESIS, forged) != sealed_head
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, forged, expected_head=sealed_head)
    assert caught.value.seq == 15


def test_rows_cut_off_at_the_end_are_caught_by_the_sealed_head() -> None:
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, ROWS[:-1], expected_head=ROWS[-1]["chain_hash"])
    assert caught.value.seq == 14
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, [], expected_head=ROWS[-1]["chain_hash"])
    assert caught.value.seq is None


def test_row_without_chain_hash_or_seq_is_broken() -> None:
    rows = [dict(row) for row in ROWS]
    del rows[1]["chain_hash"]
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 11
    rows = [dict(row) for row in ROWS]
    rows[1]["seq"] = "11"
    with pytest.raises(ChainBrokenError) as caught:
        verify_chain(GENESIS, rows)
    assert caught.value.seq == 10


def test_builder_refuses_rows_out_of_seq_order() -> None:
    builder = ChainBuilder()
    builder.add(ROWS[1])
    with pytest.raises(ValueError, match="seq order"):
        builder.add(ROWS[0])
    with pytest.raises(ValueError, match="integer seq"):
        builder.add({"action": "data.read"})
    assert builder.count == 1
    assert "ChainBuilder(rows=1" in repr(builder)


@pytest.mark.parametrize("prev", ["", "0" * 63, "G" * 64, "A" * 64, " " + "0" * 63])
def test_previous_head_must_be_64_lower_case_hex(prev: str) -> None:
    with pytest.raises(ValueError, match="64 lower-case hex"):
        chain_step(prev, ROWS[0])
    with pytest.raises(ValueError, match="64 lower-case hex"):
        ChainBuilder(prev)


def test_naive_timestamp_is_refused() -> None:
    row = dict(ROWS[0]) | {"occurred_at": datetime(2026, 11, 25, 1, 0)}
    with pytest.raises(ValueError, match="timezone-aware"):
        canonical(row)


def test_nested_details_are_refused() -> None:
    row = dict(ROWS[0]) | {"details": {"fields": ["full_name"]}}
    with pytest.raises(TypeError, match="JSON text"):
        canonical(row)

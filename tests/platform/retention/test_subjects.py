"""The subjects of a run: packed ids, the attempt's ledger (a batch records only the
subjects new to the attempt), pseudonyms equal to the Pseudonymiser's, and the hashing
that runs while a statement is in flight."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from retention_seed import pseudonym, retention_settings

from examstutor_platform.crypto import Pseudonymiser
from examstutor_platform.retention import load_policy
from examstutor_platform.retention.batches import TableWalk, Walk
from examstutor_platform.retention.certificates import ordered_subjects_digest, subjects_digest
from examstutor_platform.retention.subjects import (
    PackedIdSet,
    SubjectLedger,
    SubjectPseudonyms,
    split_ids,
)
from examstutor_platform.retention.tables import plan_table
from examstutor_platform.secrets import Secret

SETTINGS = retention_settings()


def _packed(ids: list[uuid.UUID]) -> bytes:
    return b"".join(i.bytes for i in ids)


def test_split_ids_keeps_order_and_duplicates() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    assert split_ids(_packed([*ids, ids[0]])) == [i.bytes for i in [*ids, ids[0]]]
    assert split_ids(None) == [] and split_ids(b"") == []
    # bytes that look like newlines are ids like any other (the pattern spans them)
    assert split_ids(b"\n" * 32) == [b"\n" * 16, b"\n" * 16]
    with pytest.raises(ValueError, match="multiple of 16"):
        split_ids(b"x" * 17)


@settings(max_examples=50, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=100),
    ids=st.lists(st.uuids(), max_size=20),
    staff=st.lists(st.uuids(), max_size=3),
)
def test_pseudonyms_are_the_pseudonymisers(
    key: bytes, ids: list[uuid.UUID], staff: list[uuid.UUID]
) -> None:
    """Keys of every length (longer than a SHA-256 block too) give the same pseudonyms."""
    reference = Pseudonymiser(Secret(key))
    expected = {reference.pseudonym("student", str(i)) for i in ids}
    expected |= {reference.pseudonym("staff", str(s)) for s in staff}
    hasher = SubjectPseudonyms(Secret(key))
    assert hasher.of((i.bytes for i in ids), (f"staff:{s}" for s in staff)) == expected


def test_known_pseudonym() -> None:
    sid = uuid.UUID("00000000-0000-4000-8000-000000000042")
    [found] = SubjectPseudonyms(SETTINGS.pseudonym_key).students([sid.bytes])
    assert found == pseudonym(SETTINGS, sid)
    assert found.startswith("stu_") and len(found) == 36
    assert "Secret('**********')" in repr(SubjectPseudonyms(SETTINGS.pseudonym_key))


def test_a_ledger_names_each_subject_once_per_attempt() -> None:
    ledger = SubjectLedger(SubjectPseudonyms(SETTINGS.pseudonym_key))
    a, b, c = (uuid.uuid4() for _ in range(3))
    staff = f"staff:{uuid.uuid4()}"

    first = ledger.fresh(_packed([a, b, a]), [staff, staff])
    assert first == ({a.bytes, b.bytes}, {staff})
    assert ledger.fresh(_packed([a]), []) == ({a.bytes}, set()), "nothing committed yet"
    ledger.add(*first)

    assert ledger.fresh(_packed([b, c, a]), [staff]) == ({c.bytes}, set())
    ledger.add({c.bytes}, set())
    assert ledger.unhashed == 3
    ledger.hash_some(2)
    assert ledger.unhashed == 1
    expected = {pseudonym(SETTINGS, s) for s in (a, b, c)} | {
        pseudonym(SETTINGS, uuid.UUID(staff.split(":")[1]), "staff")
    }
    assert ledger.pseudonyms == expected and ledger.unhashed == 0
    assert ledger.ordered_pseudonyms() == sorted(expected)


def test_ordered_pseudonyms_give_the_certificate_digest() -> None:
    """Pseudonyms put in order piece by piece (between statements) digest as a whole."""
    ledger = SubjectLedger(SubjectPseudonyms(SETTINGS.pseudonym_key))
    every: set[uuid.UUID] = set()
    for size in (50, 0, 7, 300):
        batch = [uuid.uuid4() for _ in range(size)]
        every |= set(batch)
        ledger.add(*ledger.fresh(_packed(batch), []))
        while ledger.busywork(16):
            pass
    ledger.add(*ledger.fresh(_packed([uuid.uuid4() for _ in range(5)]), [f"staff:{every.pop()}"]))
    ordered = ledger.ordered_pseudonyms()
    assert ordered == sorted(ledger.pseudonyms) and len(ordered) == 357 + 5 + 1
    assert ordered_subjects_digest(ordered) == subjects_digest(ledger.pseudonyms)
    assert ledger.digest() == subjects_digest(ledger.pseudonyms)
    assert not ledger.busywork(16)


@pytest.mark.parametrize("slice_", [1, 3, 2048])
def test_the_ledger_digests_piece_by_piece_and_anew_when_subjects_join(slice_: int) -> None:
    """Digested a slice at a time between statements, then subjects join that sort
    before the digested ones: the digest is still that of all of them, in order."""
    ledger = SubjectLedger(SubjectPseudonyms(SETTINGS.pseudonym_key))
    ledger.DIGEST_SLICE = slice_
    assert ledger.digest() == subjects_digest([]), "no subjects: SHA-256 of nothing"
    for size in (40, 1, 25):
        ledger.add(*ledger.fresh(_packed([uuid.uuid4() for _ in range(size)]), []))
        for _ in range(8):  # part of the way only
            ledger.busywork(16)
    assert ledger.digest() == subjects_digest(ledger.pseudonyms)
    assert ledger.digest() == ordered_subjects_digest(ledger.ordered_pseudonyms())


async def _walk(conn: asyncpg.Connection) -> TableWalk:
    category = load_policy().category("sessions")
    plan = await plan_table(conn, category.name, category.action, category.tables[0])
    ledger = SubjectLedger(SubjectPseudonyms(SETTINGS.pseudonym_key))
    ledger.add({uuid.uuid4().bytes for _ in range(5000)}, set())
    walk = Walk("run", category.name, datetime.now(UTC), "attempt", ledger)
    return TableWalk(conn, plan, walk, 100, None)


async def test_subjects_are_hashed_while_a_statement_runs(conn: asyncpg.Connection) -> None:
    table = await _walk(conn)
    ledger = table.walk.ledger
    done: list[int] = []

    slept = await table._meanwhile(
        conn.fetchval("SELECT pg_sleep(0.2)::text"), lambda: done.append(ledger.unhashed)
    )

    assert slept == "" and done == [5000], "the work ran first, once"
    assert ledger.unhashed < 5000, "hashing went on while the server slept"
    assert len(ledger.pseudonyms) == 5000


async def test_work_failing_during_a_statement_leaves_the_connection_usable(
    conn: asyncpg.Connection,
) -> None:
    table = await _walk(conn)

    def fail() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await table._meanwhile(conn.fetchval("SELECT pg_sleep(0.05)"), fail)
    assert await conn.fetchval("SELECT 1") == 1


async def test_a_cancelled_run_cancels_its_statement(conn: asyncpg.Connection) -> None:
    table = await _walk(conn)
    running = asyncio.ensure_future(table._meanwhile(conn.fetchval("SELECT pg_sleep(30)")))
    await asyncio.sleep(0.1)
    running.cancel()
    async with asyncio.timeout(10):
        with pytest.raises(asyncio.CancelledError):
            await running
    assert await conn.fetchval("SELECT 1") == 1


def _colliding(count: int) -> list[bytes]:
    """``count`` different 16-byte ids that share one PackedIdSet key."""
    mix, mask = 0x9E3779B97F4A7C15, (1 << 64) - 1
    first_hi, first_lo = 12345, 67890
    key = (first_hi * mix & mask) ^ first_lo
    ids = []
    for hi in range(first_hi, first_hi + count):
        lo = key ^ (hi * mix & mask)
        ids.append(hi.to_bytes(8, "little") + lo.to_bytes(8, "little"))
    return ids


def test_a_packed_id_set_tells_ids_apart_that_share_a_key() -> None:
    ids = _colliding(4)
    assert len(set(ids)) == 4
    others = [uuid.uuid4().bytes for _ in range(50)]
    held = PackedIdSet()
    assert held.missing(b"".join(ids[:2] * 3)) == set(ids[:2]), "each once"
    held.add([ids[0], ids[2], *others])
    assert len(held) == 52
    assert held.missing(b"".join([*ids, *others, ids[1]])) == {ids[1], ids[3]}
    held.add([ids[3]])
    assert held.missing(b"".join(ids)) == {ids[1]}
    assert held.missing(b"") == set()
    with pytest.raises(ValueError, match="multiple of 16"):
        held.missing(b"x" * 17)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), max_size=30), max_size=8))
def test_a_packed_id_set_answers_as_a_python_set_does(batches: list[list[int]]) -> None:
    pool = [uuid.UUID(int=n * 7919 + 1).bytes for n in range(38)] + _colliding(3)
    held, expected = PackedIdSet(), set[bytes]()
    for batch in batches:
        ids = [pool[n] for n in batch]
        new = held.missing(b"".join(ids))
        assert new == set(ids) - expected
        held.add(new)
        expected |= new
        assert len(held) == len(expected)

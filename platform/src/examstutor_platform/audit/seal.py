"""The daily audit seal: hash-chain a business day's events and sign the result.

A business day ``D`` (``EXAMSTUTOR_TIMEZONE``, Africa/Lagos by default) covers
events with ``occurred_at`` in ``[D 00:00, D+1 00:00)`` local time. Its chain
starts from the head of the seal of ``D-1`` (:data:`GENESIS` for the first
day ever) and runs over the day's events in ``seq`` order (CONTRACT §6). The
seal row in ``audit_seals`` records the seq range, the row count, both heads,
the policy version and an Ed25519 signature over
:func:`~examstutor_platform.audit.signing.seal_payload`.

Rules :func:`seal_day` keeps:

- days are sealed in order: ``D`` needs a seal for ``D-1`` as soon as any
  earlier event exists (the first day ever needs none), and a day before the
  last sealed one is never sealed afterwards;
- a day is sealed only once it has been over for :data:`SAFETY_MARGIN`: ``seq``
  order is not commit order, so an event stamped 23:59:59 may commit a moment
  after midnight;
- one sealer at a time (a transaction-scoped advisory lock);
- re-sealing a sealed day recomputes it: the same head returns the stored seal
  (``audit_seals`` is append-only), any difference raises
  :class:`~examstutor_platform.errors.ChainBrokenError`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from examstutor_platform.audit.chain import GENESIS
from examstutor_platform.audit.signing import PublicKeyLike, Signer, key_id, seal_payload, verify
from examstutor_platform.audit.stream import QUERIES, DayChain, RowProgress, day_bounds, day_of
from examstutor_platform.audit.stream import stream_day as _stream_day
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.errors import AuditError, ChainBrokenError, SignatureError
from examstutor_platform.retention.policy import load_policy
from examstutor_platform.settings import Settings

__all__ = [
    "SAFETY_MARGIN",
    "SEAL_LOCK_KEY",
    "SealError",
    "SealRecord",
    "SealResult",
    "check_day_over",
    "check_sealing_order",
    "days_to_seal",
    "load_seal",
    "seal_before",
    "seal_day",
    "seal_through",
    "seals_between",
    "store_seal",
]

#: how long after a day's end it may be sealed (late commits land before)
SAFETY_MARGIN: Final = timedelta(minutes=5)
#: advisory lock key that serialises sealers ("es-seal" in ASCII)
SEAL_LOCK_KEY: Final = 0x65732D7365616C


class SealError(AuditError):
    """A day cannot be sealed yet: it is not over, or an earlier day is not sealed."""


@dataclass(frozen=True)
class SealRecord:
    """One row of ``audit_seals``: a sealed day."""

    day: date
    timezone: str
    first_seq: int | None
    last_seq: int | None
    rows: int
    prev_head: str
    head: str
    key_id: str
    signature: str
    policy_version: str
    sealed_at: datetime
    run_id: str | None

    @classmethod
    def from_row(cls, row: Any) -> SealRecord:
        """From an ``audit_seals`` record."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})

    def payload(self) -> bytes:
        """The bytes its signature covers."""
        return seal_payload(
            self.day,
            self.timezone,
            self.first_seq,
            self.last_seq,
            self.rows,
            self.prev_head,
            self.head,
            self.policy_version,
        )

    def check_signature(self, public_key: PublicKeyLike) -> None:
        """Return if the seal is signed by ``public_key``; :class:`SignatureError` if not."""
        expected = key_id(public_key)
        if self.key_id != expected:
            raise SignatureError(
                f"the seal of {self.day} names signing key {self.key_id!r}, "
                f"but the public key given is {expected!r}"
            )
        try:
            raw = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(
                f"the seal of {self.day} has a signature that is not base64"
            ) from None
        try:
            payload = self.payload()
        except (TypeError, ValueError) as exc:
            raise SignatureError(
                f"the seal of {self.day} is malformed ({exc}): it was edited"
            ) from None
        try:
            verify(public_key, payload, raw)
        except SignatureError:
            raise SignatureError(
                f"the seal of {self.day} does not verify under public key {expected}: "
                "the seal row was edited or signed by another key"
            ) from None


@dataclass(frozen=True)
class SealResult:
    """What :func:`seal_day` did: the day's seal, and whether this run created it."""

    day: date
    rows: int
    first_seq: int | None
    last_seq: int | None
    prev_head: str
    head: str
    key_id: str
    policy_version: str
    run_id: str | None
    created: bool

    @classmethod
    def of(cls, seal: SealRecord, *, created: bool) -> SealResult:
        """The result for a stored seal."""
        return cls(
            day=seal.day,
            rows=seal.rows,
            first_seq=seal.first_seq,
            last_seq=seal.last_seq,
            prev_head=seal.prev_head,
            head=seal.head,
            key_id=seal.key_id,
            policy_version=seal.policy_version,
            run_id=seal.run_id,
            created=created,
        )


async def load_seal(conn: DbConnection, day: date) -> SealRecord | None:
    """The seal of ``day``, if it is sealed."""
    row = await conn.fetchrow(QUERIES["seal_for_day"], day)
    return None if row is None else SealRecord.from_row(row)


async def seal_before(conn: DbConnection, day: date) -> SealRecord | None:
    """The seal of the latest sealed day before ``day``."""
    row = await conn.fetchrow(QUERIES["seal_before"], day)
    return None if row is None else SealRecord.from_row(row)


async def seals_between(conn: DbConnection, first: date, last: date) -> list[SealRecord]:
    """The seals of ``first`` … ``last`` (inclusive), in day order."""
    return [
        SealRecord.from_row(row) for row in await conn.fetch(QUERIES["seals_between"], first, last)
    ]


async def seal_day(
    conn: DbConnection,
    settings: Settings,
    day: date,
    run_id: str | None,
    *,
    progress: RowProgress | None = None,
    now: datetime | None = None,
    margin: timedelta = SAFETY_MARGIN,
) -> SealResult:
    """Seal ``day`` (or check that its existing seal still holds) and return the seal.

    Raises :class:`SealError` when the day is not over by ``margin`` or an
    earlier day is unsealed, :class:`ChainBrokenError` when a sealed day no
    longer gives its sealed head. ``progress`` gets the rows chained so far.
    """
    start, end = day_bounds(day, settings.tz)
    check_day_over(day, settings, now=now, margin=margin)
    signer = Signer(settings.signing_key)
    policy_version = load_policy().version
    async with conn.transaction():
        await conn.execute(QUERIES["lock_sealing"], SEAL_LOCK_KEY)
        existing = await load_seal(conn, day)
        previous = await seal_before(conn, day)
        if existing is None:
            await check_sealing_order(conn, day, previous, settings)
            prev_head = previous.head if previous is not None else GENESIS
        else:
            _check_existing(existing, previous, settings)
            prev_head = existing.prev_head
        chain = await _stream_day(conn, start, end, DayChain(prev_head), progress=progress)
        if existing is not None:
            await _compare(conn, existing, chain, start, end)
            return SealResult.of(existing, created=False)
        stored = await store_seal(conn, settings, signer, day, chain, policy_version, run_id)
        return SealResult.of(stored, created=True)


def check_day_over(
    day: date, settings: Settings, *, now: datetime | None = None, margin: timedelta = SAFETY_MARGIN
) -> None:
    """Raise :class:`SealError` unless ``day`` ended at least ``margin`` before ``now``."""
    _, end = day_bounds(day, settings.tz)
    moment = now or datetime.now(UTC)
    if moment < end + margin:
        raise SealError(
            f"day {day} is not over yet: it ends at {end:%Y-%m-%d %H:%M} UTC (midnight "
            f"{settings.timezone}) and can be sealed {int(margin.total_seconds() // 60)} minutes "
            "later, once late commits have landed"
        )


async def store_seal(
    conn: DbConnection,
    settings: Settings,
    signer: Signer,
    day: date,
    chain: DayChain,
    policy_version: str,
    run_id: str | None,
) -> SealRecord:
    """Sign the chain of ``day`` and insert its seal (in the caller's transaction)."""
    sealed = (day, settings.timezone, chain.first_seq, chain.last_seq, chain.rows)
    heads = (chain.prev, chain.head)
    signature = signer.sign(seal_payload(*sealed, *heads, policy_version))
    row = await conn.fetchrow(
        QUERIES["insert_seal"],
        *sealed,
        *heads,
        signer.key_id,
        base64.b64encode(signature).decode("ascii"),
        policy_version,
        run_id,
    )
    return SealRecord.from_row(row)


async def check_sealing_order(
    conn: DbConnection, day: date, previous: SealRecord | None, settings: Settings
) -> None:
    """Raise :class:`SealError` unless ``day`` is the next day to seal (``previous``: the
    latest seal before it)."""
    last_sealed = await conn.fetchval(QUERIES["last_sealed_day"])
    if last_sealed is not None and last_sealed > day:
        raise SealError(
            f"cannot seal {day}: {last_sealed} is already sealed, and sealing an earlier day "
            "afterwards would fork the chain"
        )
    if previous is not None:
        if previous.day != day - timedelta(days=1):
            missing = previous.day + timedelta(days=1)
            raise SealError(
                f"cannot seal {day}: {missing} is not sealed yet; days are sealed in order "
                f"(the last sealed day is {previous.day})"
            )
        return
    start, _ = day_bounds(day, settings.tz)
    earliest = await conn.fetchrow(QUERIES["earliest_event_before"], start)
    if earliest is not None:
        first_day = day_of(earliest["occurred_at"], settings.tz)
        raise SealError(
            f"cannot seal {day}: {day - timedelta(days=1)} is not sealed, and events go back "
            f"to {first_day} (seq {earliest['seq']}); seal the days in order from {first_day}"
        )


def _check_existing(existing: SealRecord, previous: SealRecord | None, settings: Settings) -> None:
    if existing.timezone != settings.timezone:
        raise SealError(
            f"day {existing.day} was sealed in time zone {existing.timezone}, but "
            f"EXAMSTUTOR_TIMEZONE is {settings.timezone}: the day's bounds differ"
        )
    expected_prev = previous.head if previous is not None else GENESIS
    if existing.prev_head != expected_prev:
        before = f"the seal of {previous.day}" if previous is not None else "the genesis"
        raise ChainBrokenError(
            f"the seal of {existing.day} starts from {existing.prev_head[:16]}…, but {before} "
            f"ends at {expected_prev[:16]}…: the seals do not link",
            seq=existing.first_seq,
        )


async def _compare(
    conn: DbConnection, existing: SealRecord, chain: DayChain, start: datetime, end: datetime
) -> None:
    """Raise :class:`ChainBrokenError` unless ``chain`` reproduces ``existing``."""
    if (
        chain.head == existing.head
        and chain.rows == existing.rows
        and chain.first_seq == existing.first_seq
        and chain.last_seq == existing.last_seq
    ):
        return
    seq = await first_foreign_seq(conn, existing, start, end)
    raise ChainBrokenError(
        f"day {existing.day} was sealed with {existing.rows} rows "
        f"(seq {existing.first_seq}–{existing.last_seq}, head {existing.head[:16]}…) but its "
        f"events now give {chain.rows} rows (seq {chain.first_seq}–{chain.last_seq}, "
        f"head {chain.head[:16]}…): the audit log changed after sealing; "
        f"`examstutor audit verify --from {existing.day} --to {existing.day}` names the first "
        "bad seq",
        seq=seq,
    )


async def first_foreign_seq(
    conn: DbConnection, seal: SealRecord, start: datetime, end: datetime
) -> int | None:
    """The first seq of the day outside the sealed seq range (a back-dated row), if any."""
    if seal.first_seq is None or seal.last_seq is None:
        value = await conn.fetchval(QUERIES["day_first_seq"], start, end)
    else:
        value = await conn.fetchval(
            QUERIES["day_seq_outside"], start, end, seal.first_seq, seal.last_seq
        )
    return None if value is None else int(value)


async def days_to_seal(conn: DbConnection, settings: Settings, day: date) -> list[date]:
    """``day`` and, before it, every unsealed day since the last seal (or the first event)."""
    previous = await seal_before(conn, day)
    if previous is not None:
        start = previous.day + timedelta(days=1)
    else:
        earliest = await conn.fetchrow(
            QUERIES["earliest_event_before"], day_bounds(day, settings.tz)[0]
        )
        start = day if earliest is None else day_of(earliest["occurred_at"], settings.tz)
    return [start + timedelta(days=n) for n in range((day - start).days + 1)]


async def seal_through(
    conn: DbConnection,
    settings: Settings,
    day: date,
    run_id: str | None,
    *,
    progress: RowProgress | None = None,
    now: datetime | None = None,
) -> list[SealResult]:
    """Seal every unsealed day before ``day`` in order, then ``day`` itself.

    A scheduled run after downtime (or the first run ever) thereby catches up
    instead of failing on the missing earlier seals. Days already sealed are
    not touched; ``day`` is re-checked as :func:`seal_day` does."""
    return [
        await seal_day(conn, settings, current, run_id, progress=progress, now=now)
        for current in await days_to_seal(conn, settings, day)
    ]

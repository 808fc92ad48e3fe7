"""The audit hash chain (CONTRACT §6).

``h_0`` is the previous day's head (:data:`GENESIS` for the first day ever);
``h_i = sha256(bytes.fromhex(h_{i-1}) + canonical(row_i))`` over the rows in
``seq`` order; a row's ``chain_hash`` is its ``h_i``. Changing, removing or
reordering a row changes every later hash, so :func:`verify_chain` names the
first row where the stored chain and the recomputed one part.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from examstutor_platform.audit.canonical import canonical
from examstutor_platform.errors import ChainBrokenError

__all__ = ["GENESIS", "ChainBuilder", "chain_hashes", "chain_step", "verify_chain"]

#: the chain's starting point before the first sealed day
GENESIS: Final = "0" * 64
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _check_head(value: str, name: str) -> None:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError(f"{name} must be 64 lower-case hex digits")


def chain_step(prev_hex: str, row: Mapping[str, Any]) -> str:
    """``sha256(bytes.fromhex(prev_hex) + canonical(row))`` as hex."""
    _check_head(prev_hex, "the previous chain hash")
    return hashlib.sha256(bytes.fromhex(prev_hex) + canonical(row)).hexdigest()


def chain_hashes(prev_hex: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The ``chain_hash`` of each row, starting from ``prev_hex``."""
    builder = ChainBuilder(prev_hex)
    return [builder.add(row) for row in rows]


class ChainBuilder:
    """Extends a chain one row at a time (rows in strictly increasing ``seq``)."""

    __slots__ = ("_head", "count", "first_seq", "last_seq", "prev")

    def __init__(self, prev: str = GENESIS) -> None:
        _check_head(prev, "the previous chain hash")
        self.prev = prev
        self._head = prev
        self.count = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None

    @property
    def head(self) -> str:
        """The hash of the last row added (``prev`` while no row has been added)."""
        return self._head

    def add(self, row: Mapping[str, Any]) -> str:
        """Chain ``row`` and return its ``chain_hash``; ``ValueError`` unless ``seq`` increases."""
        seq = _seq(row)
        if seq is None:
            raise ValueError("an audit row needs an integer seq")
        if self.last_seq is not None and seq <= self.last_seq:
            raise ValueError(f"seq {seq} does not follow seq {self.last_seq}: rows go in seq order")
        self._head = chain_step(self._head, row)
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        self.count += 1
        return self._head

    def __repr__(self) -> str:
        return f"ChainBuilder(rows={self.count}, head={self._head[:12]}…)"


def verify_chain(
    prev: str, rows: Iterable[Mapping[str, Any]], *, expected_head: str | None = None
) -> str:
    """Recompute the chain over ``rows`` (each carrying ``chain_hash``) and return its head.

    Raises :class:`ChainBrokenError` naming the first bad ``seq`` when a stored
    ``chain_hash`` differs from the recomputed one, a row lacks one, or ``seq``
    is not strictly increasing. With ``expected_head`` (the sealed head), a
    chain that ends elsewhere — rows cut off at the end — is broken too.
    """
    _check_head(prev, "the previous chain hash")
    head = prev
    last_seq: int | None = None
    for row in rows:
        seq = _seq(row)
        if seq is None:
            raise ChainBrokenError(f"row after seq {last_seq} has no integer seq", seq=last_seq)
        if last_seq is not None and seq <= last_seq:
            raise ChainBrokenError(
                f"seq {seq} follows seq {last_seq}: rows are out of order or repeated", seq=seq
            )
        stored = row.get("chain_hash")
        if not isinstance(stored, str):
            raise ChainBrokenError(f"seq {seq} has no chain_hash", seq=seq)
        head = chain_step(head, row)
        if stored != head:
            raise ChainBrokenError(
                f"chain broken at seq {seq}: stored chain_hash {stored[:16]}… "
                f"but the row and its predecessor give {head[:16]}…",
                seq=seq,
            )
        last_seq = seq
    if expected_head is not None and head != expected_head:
        raise ChainBrokenError(
            f"chain ends at {head[:16]}… after seq {last_seq}, "
            f"but the seal says {expected_head[:16]}…: rows were cut off or appended",
            seq=last_seq,
        )
    return head


def _seq(row: Mapping[str, Any]) -> int | None:
    seq = row.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int):
        return None
    return seq

"""96-bit AES-GCM nonces from the operating system's CSPRNG, drawn in blocks.

``os.urandom(12)`` per nonce is a system call that costs about a third of a
short field's encryption. :func:`nonce` draws 341 nonces (4092 bytes) with one
call and hands them out as 12-byte slices: every nonce is still fresh random
bytes from the OS (random nonces as NIST SP 800-38D §8.2.2 allows, with its
limit of 2^32 encryptions per key), and none is handed out twice:

* a block travels with its own counter, in one tuple that is replaced whole,
  and the counter's ``__next__`` is one C call, atomic under the GIL: two
  threads never get the same index of the same block (two threads that empty
  a block at once each draw a new one, and waste the other's);
* a forked child starts without a block (:func:`os.register_at_fork`), so a
  parent and its child never use the same one;
* where the interpreter runs without a GIL, each nonce is its own
  ``os.urandom`` call.

Key rotation draws a whole column's nonces with one call of its own
(:mod:`.reencrypt`).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable

__all__ = ["NONCE_BYTES", "nonce"]

NONCE_BYTES = 12
_PER_BLOCK = 341
_State = tuple[bytes, Callable[[], int]]


def _empty() -> _State:
    return b"", itertools.repeat(_PER_BLOCK).__next__


_state: _State = _empty()
_GIL = getattr(sys, "_is_gil_enabled", lambda: True)()


def _reset_after_fork() -> None:
    global _state
    _state = _empty()


os.register_at_fork(after_in_child=_reset_after_fork)


def nonce() -> bytes:
    """12 fresh random bytes, never handed out before in this process."""
    global _state
    block, take = _state
    index = take()
    if index < _PER_BLOCK:
        start = index * NONCE_BYTES
        return block[start : start + NONCE_BYTES]
    if not _GIL:
        return os.urandom(NONCE_BYTES)
    block = os.urandom(NONCE_BYTES * _PER_BLOCK)
    _state = (block, itertools.count(1).__next__)  # index 0 is this call's
    return block[:NONCE_BYTES]

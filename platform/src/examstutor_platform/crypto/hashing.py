"""Keyed hashes that let the platform find and name people without decrypting anything.

* :class:`BlindIndex` — ``email_index`` columns: HMAC-SHA256 (32 raw bytes) of
  the normalised email under ``EXAMSTUTOR_INDEX_KEY``, so login and uniqueness
  need no decryption.
* :class:`Pseudonymiser` — names in audit events under ``EXAMSTUTOR_PSEUDONYM_KEY``.
  A pseudonym is ``<prefix>_<32 lowercase hex>``: the hex is the first 16 bytes
  of HMAC-SHA256(key, kind ‖ 0x00 ‖ value), the prefix is ``stu`` for
  ``student``, ``stf`` for ``staff``, ``grd`` for ``guardian`` and the kind
  itself for any other kind (lowercase letters and digits, at most 16). Every
  pseudonym matches the audit log's ``^[A-Za-z0-9_:.-]{1,128}$``.

The two keys are separate so that knowing one kind of hash helps with no other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from examstutor_platform.errors import ConfigurationError
from examstutor_platform.secrets import Secret

__all__ = ["KIND_PREFIXES", "MIN_KEY_BYTES", "BlindIndex", "Pseudonymiser", "normalise_email"]

MIN_KEY_BYTES = 32
KIND_PREFIXES: Mapping[str, str] = MappingProxyType(
    {"student": "stu", "staff": "stf", "guardian": "grd"}
)
_GENERIC_KIND = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_RESERVED_PREFIXES = frozenset(KIND_PREFIXES.values())
_SHA256_BLOCK = 64
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def _prefix(kind: str) -> str:
    prefix = KIND_PREFIXES.get(kind)
    if prefix is not None:
        return prefix
    if not _GENERIC_KIND.match(kind) or kind in _RESERVED_PREFIXES:
        raise ValueError(
            f"pseudonym kind {kind!r}: use {', '.join(KIND_PREFIXES)} or 1-16 lowercase "
            "letters and digits starting with a letter"
        )
    return kind


def _check_key(key: Secret, what: str) -> bytes:
    if not isinstance(key, Secret):
        raise TypeError(f"the {what} key must be a Secret")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"the {what} key is {len(key)} bytes; it must be at least {MIN_KEY_BYTES}"
        )
    return key.reveal()


def normalise_email(value: str) -> str:
    """The form an email is indexed under: trimmed, caselessly folded, NFC.

    Canonical caseless matching (Unicode §3.13): NFD, case fold, then NFC, so
    composed and decomposed spellings and any letter case index alike.
    """
    folded = unicodedata.normalize("NFD", value.strip()).casefold()
    return unicodedata.normalize("NFC", folded)


class BlindIndex:
    """HMAC-SHA256 blind indexes for exact-match lookups on encrypted columns."""

    __slots__ = ("_key",)

    def __init__(self, key: Secret) -> None:
        self._key = _check_key(key, "blind index")

    def email(self, value: str) -> bytes:
        """The 32-byte index of an email address (see :func:`normalise_email`)."""
        message = normalise_email(value).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "BlindIndex(key=Secret('**********'))"


class Pseudonymiser:
    """Stable keyed pseudonyms: the same kind and value always give the same text.

    The HMAC (RFC 2104, SHA-256) is computed with the key's inner and outer pads hashed
    once, here: ``hmac.new`` would hash them again for every pseudonym, which is half
    the cost of one, and a retention run names 100,000 students or more."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: Secret) -> None:
        raw = _check_key(key, "pseudonym")
        if len(raw) > _SHA256_BLOCK:
            raw = hashlib.sha256(raw).digest()
        raw = raw.ljust(_SHA256_BLOCK, b"\x00")
        self._inner = hashlib.sha256(raw.translate(_IPAD))
        self._outer = hashlib.sha256(raw.translate(_OPAD))

    def pseudonym(self, kind: str, value: str) -> str:
        """``<prefix>_<32 hex>`` for ``value`` (used verbatim: normalise it first)."""
        return next(self.pseudonyms(kind, (value,)))

    def pseudonyms(self, kind: str, values: Iterable[str]) -> Iterator[str]:
        """:meth:`pseudonym` of each of ``values``, in order (one kind check, one pad
        set-up for them all)."""
        prefix = f"{_prefix(kind)}_"
        inner = self._inner.copy()
        inner.update(kind.encode("ascii") + b"\x00")
        inner_copy, outer_copy = inner.copy, self._outer.copy
        for value in values:
            step = inner_copy()
            step.update(value.encode("utf-8"))
            final = outer_copy()
            final.update(step.digest())
            yield prefix + final.digest()[:16].hex()

    def __repr__(self) -> str:
        return "Pseudonymiser(key=Secret('**********'))"

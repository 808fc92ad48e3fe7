"""The subjects of a retention run: how they come from the database, which of a batch's
are new to the run, and their pseudonyms for the certificate.

Subjects travel as one bytea of 16-byte student ids (plus ``kind:id`` text for other
kinds of subject, e.g. staff sessions). A big first run meets each student in many
batches (100,000 students over 1,000,000 sessions: ten batches each), so
:class:`SubjectLedger` keeps the subjects of the attempt's committed batches: a batch
records only the subjects new to the attempt, and each subject is hashed once. The
student ids it holds are a :class:`PackedIdSet`: a batch's 20,000 ids are looked up
with one vectorised search over numpy arrays, where Python would build and hash
20,000 objects (most of the client's work in a big run, measured).

:class:`SubjectPseudonyms` names them with :meth:`~examstutor_platform.crypto.
Pseudonymiser.pseudonyms` (one HMAC set-up for them all).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from itertools import filterfalse
from typing import Any

import numpy as np
import numpy.typing as npt

from examstutor_platform.crypto import Pseudonymiser
from examstutor_platform.secrets import Secret

__all__ = [
    "PackedIdSet",
    "SubjectLedger",
    "SubjectPseudonyms",
    "split_ids",
    "subjects_of_rows",
]

_UUID_BYTES = 16
_ID = re.compile(rb".{16}", re.DOTALL)


def split_ids(blob: bytes | None) -> list[bytes]:
    """The 16-byte ids packed in ``blob``, in order (duplicates kept)."""
    if not blob:
        return []
    _check_packed(blob)
    ids: list[bytes] = _ID.findall(blob)
    return ids


def _check_packed(blob: bytes) -> None:
    if len(blob) % _UUID_BYTES:
        raise ValueError(f"packed ids: {len(blob)} bytes is not a multiple of {_UUID_BYTES}")


def subjects_of_rows(rows: Iterable[Any]) -> tuple[bytes, list[str]]:
    """Packed student ids and ``kind:id`` others of rows with ``subject`` and ``kind``."""
    students: list[bytes] = []
    others: list[str] = []
    for row in rows:
        if row["subject"] is None:
            continue
        if row["kind"] == "student":
            students.append(row["subject"].bytes)
        else:
            others.append(f"{row['kind']}:{row['subject']}")
    return b"".join(students), others


class SubjectPseudonyms:
    """The pseudonyms of subjects: :meth:`Pseudonymiser.pseudonyms`, student ids given
    as 16 bytes and named by the canonical text of their UUID."""

    __slots__ = ("_pseudonymiser",)

    def __init__(self, key: Secret) -> None:
        self._pseudonymiser = Pseudonymiser(key)

    def students(self, ids: Iterable[bytes]) -> set[str]:
        """The pseudonyms of these 16-byte student ids."""
        return set(self._pseudonymiser.pseudonyms("student", map(_uuid_text, ids)))

    def of(self, students: Iterable[bytes], others: Iterable[str]) -> set[str]:
        """The pseudonyms of student ids and ``kind:id`` others."""
        pseudonym = self._pseudonymiser.pseudonym
        found = self.students(students)
        found.update(pseudonym(*other.split(":", 1)) for other in others)
        return found

    def __repr__(self) -> str:
        return "SubjectPseudonyms(key=Secret('**********'))"


def _uuid_text(raw: bytes) -> str:
    """``str(uuid.UUID(bytes=raw))``, without building the UUID."""
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_U64 = npt.NDArray[np.uint64]
#: an odd 64-bit constant (2^64 / golden ratio): mixes an id's two halves into its key
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _pairs(blob: bytes) -> _U64:
    """Packed 16-byte ids as an (n, 2) array of their two halves (no copy)."""
    _check_packed(blob)
    return np.frombuffer(blob, dtype="<u8").reshape(-1, 2)


def _keys(ids: _U64) -> _U64:
    keys: _U64 = (ids[:, 0] * _MIX) ^ ids[:, 1]
    return keys


class PackedIdSet:
    """A set of 16-byte ids held as two numpy arrays, the ids and a 64-bit key of each,
    sorted by key. Two different ids may share a key: a key found is only a hint, the
    whole id decides."""

    def __init__(self) -> None:
        self._keys: _U64 = np.empty(0, dtype=np.uint64)
        self._ids: _U64 = np.empty((0, 2), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._keys)

    def missing(self, blob: bytes) -> set[bytes]:
        """The distinct ids packed in ``blob`` that the set does not hold."""
        ids = _pairs(blob)
        if len(ids) and len(self._keys):
            keys = _keys(ids)
            order = np.argsort(keys)  # searched in order, the arrays are read in order
            ids, keys = ids[order], keys[order]
            ids = ids[~self._holds(ids, keys)]
        return set(split_ids(ids.tobytes()))

    def add(self, ids: Iterable[bytes]) -> None:
        """Take ``ids``, which the set does not hold (from :meth:`missing`)."""
        new = _pairs(b"".join(ids))
        keys = _keys(new)
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(self._keys, keys[order])
        self._keys = np.insert(self._keys, at, keys[order])
        self._ids = np.insert(self._ids, at, new[order], axis=0)

    def _holds(self, ids: _U64, keys: _U64) -> npt.NDArray[np.bool_]:
        last = len(self._keys) - 1
        at = np.minimum(np.searchsorted(self._keys, keys), last)
        same_key = self._keys[at] == keys
        held: npt.NDArray[np.bool_] = same_key & (self._ids[at] == ids).all(axis=1)
        for i in np.flatnonzero(same_key & ~held):  # another id with the same key: rare
            j = int(at[i]) + 1
            while j <= last and self._keys[j] == keys[i]:
                if (self._ids[j] == ids[i]).all():
                    held[i] = True
                    break
                j += 1
        return held


class SubjectLedger:
    """The subjects of this attempt's committed batches, and their pseudonyms (each
    subject hashed once per attempt). A committed batch's subjects wait to join the
    ledger, student ids then wait to be hashed, new pseudonyms wait in a heap of loose
    ones, and the ordered pseudonyms wait to be digested (SHA-256 of them sorted and
    newline-joined, :func:`.certificates.ordered_subjects_digest`), until
    :meth:`busywork` (run while the server works) or the next call that needs them
    gets to them: nothing of it delays the next statement, and at the end of a run
    the certificate's digest is ready (a big first run meets all its subjects in its
    first batches)."""

    #: pseudonyms digested per turn of :meth:`busywork` (about 0.1 ms)
    DIGEST_SLICE = 2048

    def __init__(self, hasher: SubjectPseudonyms) -> None:
        self.hasher = hasher
        self._students = PackedIdSet()
        self._others: set[str] = set()
        self._joining: list[tuple[set[bytes], set[str]]] = []
        self._unhashed: list[bytes] = []
        self._ordered: list[str] = []
        self._loose: list[str] = []
        self._digest = hashlib.sha256()
        self._digested = 0  # how many of _ordered _digest holds

    def __len__(self) -> int:
        """How many subjects the committed batches named."""
        self._join()
        return len(self._students) + len(self._others)

    def fresh(self, blob: bytes | None, others: Iterable[str]) -> tuple[set[bytes], set[str]]:
        """The subjects of a batch (packed student ids, ``kind:id`` others) that the
        ledger does not hold yet; the ledger is unchanged."""
        self._join()
        students = self._students.missing(blob or b"")
        return students, set(filterfalse(self._others.__contains__, others))

    def unknown(self, students: set[bytes], others: set[str]) -> tuple[set[bytes], set[str]]:
        """Those of these subjects that the ledger does not hold."""
        return self.fresh(b"".join(students), others)

    def add(self, students: set[bytes], others: set[str]) -> None:
        """Take a committed batch's fresh subjects (from :meth:`fresh`); they join the
        ledger with the next call that needs them, or in :meth:`busywork`."""
        self._joining.append((students, others))

    def _join(self) -> None:
        for students, others in self._joining:
            self._students.add(students)
            self._others |= others
            self._unhashed.extend(students)
            self._loose.extend(self.hasher.of((), others))
        self._joining.clear()

    @property
    def unhashed(self) -> int:
        """Student ids still waiting for their pseudonym."""
        self._join()
        return len(self._unhashed)

    def hash_some(self, limit: int) -> None:
        """Hash up to ``limit`` of the waiting student ids."""
        self._join()
        cut = max(len(self._unhashed) - limit, 0)
        self._loose.extend(self.hasher.students(self._unhashed[cut:]))
        del self._unhashed[cut:]

    def busywork(self, limit: int) -> bool:
        """One slice of the waiting work (let committed subjects join, else hash up to
        ``limit`` ids, else put the loose pseudonyms in order, else digest a slice of
        them); False when there was none."""
        if self._joining:
            self._join()
        elif self._unhashed:
            self.hash_some(limit)
        elif self._loose:
            self._ordered += self._loose
            self._ordered.sort()  # two sorted runs, or one and a few loose: merged
            self._loose.clear()
            self._digest, self._digested = hashlib.sha256(), 0  # new pseudonyms: anew
        elif self._digested < len(self._ordered):
            done = self._digested
            piece = "\n".join(self._ordered[done : done + self.DIGEST_SLICE])
            self._digest.update((f"\n{piece}" if done else piece).encode("utf-8"))
            self._digested = min(done + self.DIGEST_SLICE, len(self._ordered))
        else:
            return False
        return True

    def digest(self) -> str:
        """The certificate's ``subjects_sha256`` of every subject in the ledger."""
        while self.busywork(len(self._unhashed)):
            pass
        return self._digest.hexdigest()

    def ordered_pseudonyms(self) -> list[str]:
        """The pseudonyms of every subject in the ledger, sorted (each once: distinct
        subjects, distinct pseudonyms)."""
        while self.busywork(len(self._unhashed)):
            pass
        return self._ordered

    @property
    def pseudonyms(self) -> set[str]:
        """The pseudonyms of every subject in the ledger."""
        return set(self.ordered_pseudonyms())

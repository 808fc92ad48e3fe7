"""The subjects of a retention run: how they come from the database, which of a batch's
are new to the run, and their pseudonyms for the certificate.

Subjects travel as one bytea of 16-byte student ids (plus ``kind:id`` text for other
kinds of subject, e.g. staff sessions). A big first run meets each student in many
batches (100,000 students over 1,000,000 sessions: ten batches each), so
:class:`SubjectLedger` keeps the subjects of the attempt's committed batches: a batch
records only the subjects new to the attempt, and each subject is hashed once.

:class:`SubjectPseudonyms` names them with :meth:`~examstutor_platform.crypto.
Pseudonymiser.pseudonyms` (one HMAC set-up for them all).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from itertools import filterfalse
from typing import Any

from examstutor_platform.crypto import Pseudonymiser
from examstutor_platform.secrets import Secret

__all__ = ["SubjectLedger", "SubjectPseudonyms", "split_ids", "subjects_of_rows"]

_UUID_BYTES = 16
_ID = re.compile(rb".{16}", re.DOTALL)


def split_ids(blob: bytes | None) -> list[bytes]:
    """The 16-byte ids packed in ``blob``, in order (duplicates kept)."""
    if not blob:
        return []
    if len(blob) % _UUID_BYTES:
        raise ValueError(f"packed ids: {len(blob)} bytes is not a multiple of {_UUID_BYTES}")
    ids: list[bytes] = _ID.findall(blob)
    return ids


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
        self._students: set[bytes] = set()
        self._others: set[str] = set()
        self._joining: list[tuple[set[bytes], set[str]]] = []
        self._unhashed: list[bytes] = []
        self._ordered: list[str] = []
        self._loose: list[str] = []
        self._digest = hashlib.sha256()
        self._digested = 0  # how many of _ordered _digest holds

    @property
    def students(self) -> set[bytes]:
        """The 16-byte student ids of the committed batches."""
        self._join()
        return self._students

    @property
    def others(self) -> set[str]:
        """The ``kind:id`` other subjects of the committed batches."""
        self._join()
        return self._others

    def fresh(self, blob: bytes | None, others: Iterable[str]) -> tuple[set[bytes], set[str]]:
        """The subjects of a batch (packed student ids, ``kind:id`` others) that the
        ledger does not hold yet; the ledger is unchanged."""
        self._join()
        students = set(filterfalse(self._students.__contains__, split_ids(blob)))
        return students, set(filterfalse(self._others.__contains__, others))

    def add(self, students: set[bytes], others: set[str]) -> None:
        """Take a committed batch's fresh subjects (from :meth:`fresh`); they join the
        ledger with the next call that needs them, or in :meth:`busywork`."""
        self._joining.append((students, others))

    def _join(self) -> None:
        for students, others in self._joining:
            self._students |= students
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

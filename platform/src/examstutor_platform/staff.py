"""Staff accounts: auditors, stewards and admins.

A staff member's email is stored like a student's: a blind index for lookup
and uniqueness (``email_index``) and AES-256-GCM ciphertext bound to
``staff.email_enc`` and the row id. The password arrives already hashed
(argon2id): the caller decides the cost profile and runs the hash off any
event loop. Both ``examstutor staff create`` and the admin routes of the API
create accounts through :func:`create_staff`.

Errors::

    PlatformError
     └── StaffExistsError   a staff account with that email already exists
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from examstutor_platform.crypto import BlindIndex, FieldCipher
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.errors import PlatformError

__all__ = [
    "MIN_STAFF_PASSWORD_LENGTH",
    "STAFF_ROLES",
    "StaffExistsError",
    "create_staff",
    "email_problem",
]

#: the roles a staff account may hold (CONTRACT §4)
STAFF_ROLES: Final = ("auditor", "steward", "admin")
#: a staff password chosen by a person is at least this long
MIN_STAFF_PASSWORD_LENGTH: Final = 12
TABLE: Final = "staff"
_EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,190}\.[^@\s\x00-\x1f.]{2,63}$")
_Q = load_queries("examstutor_platform", "staff.sql")


class StaffExistsError(PlatformError):
    """A staff account with that email already exists (revoked accounts included)."""


def email_problem(email: str) -> str | None:
    """Why ``email`` is not an address a staff account can have, or None."""
    if not _EMAIL.match(email.strip()):
        return "is not an email address like name@example.org"
    return None


async def create_staff(
    conn: DbConnection,
    cipher: FieldCipher,
    index: BlindIndex,
    email: str,
    role: str,
    password_hash: str,
) -> uuid.UUID:
    """Insert a staff account and return its id.

    Raises :class:`StaffExistsError` when the email (compared by blind index,
    so caselessly) is already taken, and ``ValueError`` for a role outside
    :data:`STAFF_ROLES`, an invalid email or a password that is not an argon2id hash.
    """
    if role not in STAFF_ROLES:
        raise ValueError(f"unknown staff role {role!r}; roles: {', '.join(STAFF_ROLES)}")
    problem = email_problem(email)
    if problem:
        raise ValueError(f"email {problem}")
    if not password_hash.startswith("$argon2id$"):
        raise ValueError("password_hash must be an argon2id hash, never a password")
    email = email.strip()
    if await conn.fetchval(_Q["student_uses_email"], index.email(email)):
        # one email, one account: login looks students up first
        raise StaffExistsError("a student account already uses that email")
    staff_id = uuid.uuid4()
    email_enc = cipher.encrypt(email, table=TABLE, column="email_enc", row_id=str(staff_id))
    inserted: uuid.UUID | None = await conn.fetchval(
        _Q["insert_staff"],
        staff_id,
        index.email(email),
        email_enc,
        cipher.primary_version,
        role,
        password_hash,
    )
    if inserted is None:
        raise StaffExistsError("a staff account with that email already exists")
    return inserted

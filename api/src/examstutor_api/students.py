"""Students' personal data: encrypted on the way in, decrypted for the student only.

Every ``*_enc`` column of a row is encrypted under the row's ``key_version``,
bound to ``students``, its column and the row id. Any change re-encrypts the
whole row under the primary key, so a row never mixes key versions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from examstutor_platform.crypto import BlindIndex, FieldCipher
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.masking import age_on, get_strategy

__all__ = [
    "PII_COLUMNS",
    "StudentProfile",
    "age_on",
    "insert_student",
    "load_profile",
    "rewrite_profile",
]

Q = load_queries("examstutor_api.queries", "students.sql")
TABLE = "students"
#: profile field → encrypted column
PII_COLUMNS = {
    "email": "email_enc",
    "full_name": "full_name_enc",
    "phone": "phone_enc",
    "date_of_birth": "date_of_birth_enc",
    "guardian_email": "guardian_email_enc",
}
_age_band = get_strategy("generalise_date", granularity="age_band")


@dataclass(frozen=True)
class StudentProfile:
    """A student's profile, decrypted."""

    id: uuid.UUID
    email: str
    full_name: str
    phone: str | None
    date_of_birth: date
    guardian_email: str | None
    status: str
    age_band: str | None
    created_at: datetime
    updated_at: datetime
    last_active_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The profile as the API returns it to its owner."""
        return {
            "student_id": str(self.id),
            "email": self.email,
            "full_name": self.full_name,
            "phone": self.phone,
            "date_of_birth": self.date_of_birth.isoformat(),
            "guardian_email": self.guardian_email,
            "status": self.status,
            "age_band": self.age_band,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "last_active_at": self.last_active_at.isoformat(),
        }


def _encrypt_row(
    cipher: FieldCipher, student_id: uuid.UUID, values: dict[str, str | None]
) -> list[bytes | None]:
    row_id = str(student_id)
    return [
        None
        if values[field] is None
        else cipher.encrypt(values[field] or "", table=TABLE, column=column, row_id=row_id)
        for field, column in PII_COLUMNS.items()
    ]


async def insert_student(
    conn: DbConnection,
    cipher: FieldCipher,
    index: BlindIndex,
    *,
    student_id: uuid.UUID,
    email: str,
    full_name: str,
    date_of_birth: date,
    phone: str | None,
    guardian_email: str | None,
    status: str,
) -> None:
    """Insert a student row, every PII field encrypted under the primary key."""
    encrypted = _encrypt_row(
        cipher,
        student_id,
        {
            "email": email,
            "full_name": full_name,
            "phone": phone,
            "date_of_birth": date_of_birth.isoformat(),
            "guardian_email": guardian_email,
        },
    )
    await conn.execute(
        Q["insert_student"],
        student_id,
        index.email(email),
        *encrypted,
        cipher.primary_version,
        _age_band.mask(date_of_birth, as_of=datetime.now(UTC).date()),  # type: ignore[call-arg]
        status,
    )


def _decrypt(cipher: FieldCipher, row: Any) -> StudentProfile:
    row_id = str(row["id"])
    plain: dict[str, str | None] = {}
    for field, column in PII_COLUMNS.items():
        value = row[column]
        plain[field] = (
            None
            if value is None
            else cipher.decrypt_text(value, table=TABLE, column=column, row_id=row_id)
        )
    return StudentProfile(
        id=row["id"],
        email=plain["email"] or "",
        full_name=plain["full_name"] or "",
        phone=plain["phone"],
        date_of_birth=date.fromisoformat(plain["date_of_birth"] or "1900-01-01"),
        guardian_email=plain["guardian_email"],
        status=row["status"],
        age_band=row["age_band"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_active_at=row["last_active_at"],
    )


async def load_profile(
    conn: DbConnection, cipher: FieldCipher, student_id: uuid.UUID, *, for_update: bool = False
) -> StudentProfile | None:
    """The decrypted profile, or None when there is no such student (or it was erased)."""
    row = await conn.fetchrow(
        Q["load_student_for_update" if for_update else "load_student"], student_id
    )
    if row is None or row["email_enc"] is None:
        return None
    return _decrypt(cipher, row)


async def rewrite_profile(
    conn: DbConnection,
    cipher: FieldCipher,
    index: BlindIndex,
    profile: StudentProfile,
    **changes: Any,
) -> StudentProfile:
    """Apply ``changes`` and re-encrypt the whole row under the primary key (call in a
    transaction, after ``load_profile(..., for_update=True)``)."""
    updated = replace(profile, **changes)
    encrypted = _encrypt_row(
        cipher,
        updated.id,
        {
            "email": updated.email,
            "full_name": updated.full_name,
            "phone": updated.phone,
            "date_of_birth": updated.date_of_birth.isoformat(),
            "guardian_email": updated.guardian_email,
        },
    )
    age_band = _age_band.mask(updated.date_of_birth, as_of=datetime.now(UTC).date())  # type: ignore[call-arg]
    await conn.execute(
        Q["rewrite_student"],
        updated.id,
        index.email(updated.email),
        *encrypted,
        cipher.primary_version,
        age_band,
    )
    return replace(updated, age_band=age_band)  # type: ignore[arg-type]

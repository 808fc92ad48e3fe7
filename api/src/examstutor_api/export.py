"""Everything held about one student, as JSON or as a zip of one CSV per category.

Each :class:`Category` names the table it comes from and its columns, in the
order the CSV writes them. :data:`EXPORTED_TABLES` and :data:`EXEMPT_TABLES`
together must cover every table that holds student data: a test enumerates the
schema and fails when a table is in neither (``tests/api/me/test_me_export.py``).

What is never exported: password hashes, guardian-token hashes, data-key
versions, ciphertext, the steward's hold reasons, other people's pseudonyms.
The CSV cells are the values exactly as stored (no spreadsheet-formula
escaping: the file is the student's own data, returned as it is).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

from examstutor_api.students import StudentProfile
from examstutor_platform.crypto import FieldCipher, Pseudonymiser, normalise_email
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries

__all__ = [
    "ACCESS_LOG_LIMIT",
    "CATEGORIES",
    "EXEMPT_TABLES",
    "EXPORTED_TABLES",
    "FORMAT",
    "Category",
    "StudentExport",
    "build_export",
]

FORMAT = "examstutor-export/1"
#: the access log holds the newest events by or about the student, at most this many
ACCESS_LOG_LIMIT = 1000
Q = load_queries("examstutor_api.queries", "me.sql")
QQ = load_queries("examstutor_api.queries", "questions.sql")


@dataclass(frozen=True)
class Category:
    """One part of the export: a table's rows about the student, these columns."""

    name: str
    table: str
    columns: tuple[str, ...]
    description: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        "profile",
        "students",
        (
            "student_id",
            "email",
            "full_name",
            "phone",
            "date_of_birth",
            "guardian_email",
            "status",
            "age_band",
            "created_at",
            "updated_at",
            "last_active_at",
        ),
        "your account as held, decrypted",
    ),
    Category(
        "credentials",
        "credentials",
        ("changed_at", "last_used_at"),
        "when your password was set and last used (the password hash is never exported)",
    ),
    Category(
        "consents",
        "consents",
        ("id", "purpose", "granted", "given_by", "policy_version", "recorded_at"),
        "the consent ledger, every grant and withdrawal in order",
    ),
    Category(
        "guardian_consent",
        "guardian_consent_tokens",
        ("created_at", "expires_at", "used_at", "consents"),
        "guardian confirmation links sent for you and whether they were used",
    ),
    Category(
        "questions",
        "questions",
        ("question_id", "subject", "body", "status", "created_at", "anonymised_at"),
        "the tutor questions you asked",
    ),
    Category(
        "practice_sessions",
        "practice_sessions",
        (
            "session_id",
            "exam",
            "subject",
            "question_ids",
            "num_questions",
            "score",
            "created_at",
            "completed_at",
        ),
        "your exam-practice sessions and scores",
    ),
    Category(
        "practice_answers",
        "practice_answers",
        ("session_id", "question_id", "choice", "correct", "answered_at"),
        "every answer you gave in practice",
    ),
    Category(
        "sessions",
        "auth_sessions",
        ("role", "ip_prefix", "created_at", "last_used_at", "expires_at", "revoked_at"),
        "sign-ins (access tokens) issued to you",
    ),
    Category(
        "requests",
        "dsr_requests",
        ("request_id", "type", "status", "received_at", "due_at", "completed_at"),
        "your data-subject requests (access, rectification, erasure…)",
    ),
    Category(
        "access_log",
        "audit_events",
        (
            "seq",
            "occurred_at",
            "by_you",
            "actor_role",
            "action",
            "resource",
            "outcome",
            "ip_prefix",
            "request_id",
        ),
        f"the newest {ACCESS_LOG_LIMIT} audit events by you or about your data, sign-in "
        "attempts with your email included",
    ),
    Category(
        "security_events",
        "security_events",
        ("occurred_at", "kind", "ip_prefix"),
        "security events recorded against your account or your email (throttled sign-ins)",
    ),
    Category(
        "login_attempts",
        "login_attempts",
        ("attempted_at", "ip_prefix"),
        "recent sign-in attempts with your email (kept for the throttling window)",
    ),
)

#: table → export category: every table whose rows about a student are exported
EXPORTED_TABLES: Mapping[str, str] = MappingProxyType({c.table: c.name for c in CATEGORIES})

#: table → why it holds data linked to students yet is not in the export
EXEMPT_TABLES: Mapping[str, str] = MappingProxyType(
    {
        "legal_holds": "steward-only: disclosing a hold may prejudice the proceedings it "
        "preserves data for (NDPA 2023 s.36 exemptions); the hold reason is never shown",
        "staff": "staff accounts; no student data",
        "temp_files": "working files of running jobs (a path and an owner pseudonym, no "
        "content of their own), deleted within 24 hours",
        "outbox": "outgoing messages keyed by an encrypted recipient address, not by a "
        "student; what they carry (guardian links, confirmations) is in guardian_consent "
        "and requests",
    }
)


@dataclass(frozen=True)
class StudentExport:
    """The export of one student: JSON-ready rows per category."""

    student_id: uuid.UUID
    generated_at: datetime
    categories: dict[str, list[dict[str, Any]]]

    def as_json(self) -> dict[str, Any]:
        """The ``format=json`` document."""
        return {
            "format": FORMAT,
            "generated_at": self.generated_at.isoformat(),
            "student_id": str(self.student_id),
            "categories": self.categories,
        }

    @property
    def filename_stem(self) -> str:
        """``examstutor-export-YYYYMMDD`` for Content-Disposition."""
        return f"examstutor-export-{self.generated_at:%Y%m%d}"

    def to_zip(self) -> bytes:
        """``format=zip``: one UTF-8 CSV per category with a header row, manifest and README."""
        buffer = io.BytesIO()
        listed: list[dict[str, Any]] = []
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for category in CATEGORIES:
                rows = self.categories[category.name]
                data = _csv(category.columns, rows)
                name = f"{category.name}.csv"
                archive.writestr(name, data)
                listed.append(
                    {
                        "name": category.name,
                        "file": name,
                        "rows": len(rows),
                        "columns": list(category.columns),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "description": category.description,
                    }
                )
            manifest = {
                "format": FORMAT,
                "generated_at": self.generated_at.isoformat(),
                "student_id": str(self.student_id),
                "categories": listed,
            }
            archive.writestr(
                "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
            )
            archive.writestr("README.txt", _readme(self, listed))
        return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[column]) for column in columns])
    return text.getvalue().encode("utf-8")


def _readme(export: StudentExport, listed: list[dict[str, Any]]) -> str:
    lines = [
        "ExamsTutor: everything we hold about you",
        f"Generated {export.generated_at.isoformat()} for student {export.student_id}.",
        "",
        "One CSV file per category (UTF-8, comma-separated, header row first).",
        "Empty cells are empty values; lists and objects are written as JSON.",
        "Times are ISO 8601 in UTC. manifest.json lists the files with their SHA-256.",
        "",
    ]
    lines += [f"{item['file']}: {item['rows']} rows: {item['description']}" for item in listed]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """A database value as JSON takes it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _rows(records: Any, rename: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    rename = rename or {}
    return [
        {rename.get(key, key): _plain(value) for key, value in record.items()} for record in records
    ]


async def build_export(
    conn: DbConnection,
    cipher: FieldCipher,
    pseudonyms: Pseudonymiser,
    profile: StudentProfile,
) -> StudentExport:
    """Read every category for ``profile``'s student (call inside one transaction).

    Audit and security events name the student by their pseudonym, and sign-in events
    by their email's pseudonym (the account is not known before the password is)."""
    student_id = profile.id
    categories: dict[str, list[dict[str, Any]]] = {}
    categories["profile"] = [profile.as_json()]
    categories["credentials"] = _rows(await conn.fetch(Q["export_credentials"], student_id))
    categories["consents"] = _rows(await conn.fetch(Q["consent_history"], student_id))
    categories["guardian_consent"] = _rows(
        await conn.fetch(Q["export_guardian_consent"], student_id)
    )
    questions = []
    for row in await conn.fetch(QQ["export_questions"], student_id):
        body = row["body_enc"]
        questions.append(
            {
                "question_id": str(row["id"]),
                "subject": row["subject"],
                "body": None
                if body is None
                else cipher.decrypt_text(
                    body, table="questions", column="body_enc", row_id=str(row["id"])
                ),
                "status": row["status"],
                "created_at": _plain(row["created_at"]),
                "anonymised_at": _plain(row["anonymised_at"]),
            }
        )
    categories["questions"] = questions
    categories["practice_sessions"] = _rows(
        await conn.fetch(Q["export_practice_sessions"], student_id), {"id": "session_id"}
    )
    categories["practice_answers"] = _rows(
        await conn.fetch(Q["export_practice_answers"], student_id)
    )
    categories["sessions"] = _rows(await conn.fetch(Q["export_sessions"], student_id))
    categories["requests"] = _rows(
        await conn.fetch(Q["list_requests"], student_id), {"id": "request_id"}
    )
    pseudonym = pseudonyms.pseudonym("student", str(student_id))
    names = [pseudonym, pseudonyms.pseudonym("email", normalise_email(profile.email))]
    categories["access_log"] = _rows(
        await conn.fetch(Q["export_access_log"], pseudonym, names, ACCESS_LOG_LIMIT)
    )
    categories["security_events"] = _rows(await conn.fetch(Q["export_security_events"], names))
    email_index = await conn.fetchval(Q["student_email_index"], student_id)
    categories["login_attempts"] = _rows(await conn.fetch(Q["export_login_attempts"], email_index))
    return StudentExport(student_id, datetime.now(UTC), categories)

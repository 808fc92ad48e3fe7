"""Retention and erasure test data: rows with explicit timestamps, written as superuser,
PII encrypted exactly as the API stores it (importable: ``tests/support`` is on
pytest's path)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from examstutor_platform.crypto import BlindIndex, DataKeyStore, FieldCipher, Pseudonymiser
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.settings import Settings, b64url_encode

__all__ = [
    "AT",
    "SETTINGS_ENV",
    "Student",
    "Subject",
    "add_practice",
    "add_question",
    "add_sessions",
    "add_student",
    "audit_events",
    "certificates",
    "cipher_for",
    "days_ago",
    "digest_of",
    "place_hold",
    "pseudonym",
    "retention_settings",
    "seed_subject",
    "snapshot",
]

SETTINGS_ENV: Mapping[str, str] = {
    "EXAMSTUTOR_KEKS": "ret-kek-1:" + b64url_encode(bytes(range(50, 82))),
    "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(1, 33))),
    "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(2, 34))),
    "EXAMSTUTOR_SIGNING_KEY": b64url_encode(bytes(range(3, 35))),
    "EXAMSTUTOR_JWT_SECRET": "retention-test-jwt-secret-" + "x" * 32,
    "EXAMSTUTOR_HOME": "/nonexistent/examstutor-retention-tests",
}
#: the moment every test expires data at (seconds only: timestamps round-trip exactly)
AT = datetime.now(UTC).replace(microsecond=0)


def retention_settings() -> Settings:
    """Deterministic settings for these tests."""
    return Settings.from_env(dict(SETTINGS_ENV))


def pseudonym(settings: Settings, subject: uuid.UUID, kind: str = "student") -> str:
    """The pseudonym a certificate counts for ``subject``, computed independently."""
    return Pseudonymiser(settings.pseudonym_key).pseudonym(kind, str(subject))


def digest_of(pseudonyms: Iterable[str]) -> str:
    """``subjects_sha256`` recomputed from the definition (sorted, distinct, newline)."""
    return hashlib.sha256("\n".join(sorted(set(pseudonyms))).encode()).hexdigest()


async def cipher_for(conn: DbConnection, settings: Settings) -> FieldCipher:
    """A cipher on the database's key ring (a first data key is created if none)."""
    store = DataKeyStore()
    await store.ensure_primary(conn, settings.keks)
    return FieldCipher(await store.load(conn, settings.keks))


@dataclass(frozen=True)
class Student:
    """A seeded student and their plaintext."""

    id: uuid.UUID
    email: str
    full_name: str
    phone: str
    guardian_email: str


async def add_student(
    conn: DbConnection,
    settings: Settings,
    cipher: FieldCipher,
    *,
    name: str,
    last_active_at: datetime = AT,
    status: str = "active",
    credentials_used_at: datetime | None = None,
) -> Student:
    """A student row with every PII column encrypted (and credentials, when asked)."""
    sid = uuid.uuid4()
    slug = name.lower().replace(" ", ".")
    student = Student(
        sid,
        f"{slug}@example.ng",
        name,
        f"+23480{abs(hash(sid)) % 10**8:08d}",
        f"guardian.of.{slug}@example.ng",
    )

    def enc(value: str, column: str) -> bytes:
        return cipher.encrypt(value, table="students", column=column, row_id=str(sid))

    await conn.execute(
        "INSERT INTO students (id, email_index, email_enc, full_name_enc, phone_enc,"
        " date_of_birth_enc, guardian_email_enc, key_version, age_band, status, created_at,"
        " last_active_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '16-17', $9, $10, $10)",
        sid,
        BlindIndex(settings.index_key).email(student.email),
        enc(student.email, "email_enc"),
        enc(student.full_name, "full_name_enc"),
        enc(student.phone, "phone_enc"),
        enc(date(2009, 4, 2).isoformat(), "date_of_birth_enc"),
        enc(student.guardian_email, "guardian_email_enc"),
        cipher.primary_version,
        status,
        last_active_at,
    )
    if credentials_used_at is not None:
        await conn.execute(
            "INSERT INTO credentials (student_id, password_hash, changed_at, last_used_at)"
            " VALUES ($1, '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA', $2, $2)",
            sid,
            credentials_used_at,
        )
    return student


async def add_sessions(
    conn: DbConnection, subject: uuid.UUID, last_used: Iterable[datetime], kind: str = "student"
) -> None:
    """One auth session per ``last_used`` moment."""
    await conn.executemany(
        "INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, created_at,"
        " last_used_at, expires_at)"
        " VALUES ($1, $2, $3, $3, $4::timestamptz, $4, $4 + interval '1 hour')",
        [(uuid.uuid4(), subject, kind, moment) for moment in last_used],
    )


async def add_question(
    conn: DbConnection, cipher: FieldCipher, student: uuid.UUID | None, body: str, created: datetime
) -> uuid.UUID:
    """A tutor question with its body encrypted."""
    qid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO questions (id, student_id, subject, body_enc, key_version, created_at)"
        " VALUES ($1, $2, 'mathematics', $3, $4, $5)",
        qid,
        student,
        cipher.encrypt(body, table="questions", column="body_enc", row_id=str(qid)),
        cipher.primary_version,
        created,
    )
    return qid


async def add_practice(
    conn: DbConnection, student: uuid.UUID | None, created: datetime
) -> uuid.UUID:
    """A completed practice session with two answers."""
    pid = uuid.uuid4()
    await conn.execute(
        "INSERT INTO practice_sessions (id, student_id, exam, subject, question_ids,"
        " num_questions, score, created_at, completed_at)"
        " VALUES ($1, $2, 'WAEC', 'mathematics', ARRAY['q1', 'q2'], 2, 1, $3, $3)",
        pid,
        student,
        created,
    )
    await conn.executemany(
        "INSERT INTO practice_answers (session_id, question_id, choice, correct, answered_at)"
        " VALUES ($1, $2, 'A', $3, $4)",
        [(pid, "q1", True, created), (pid, "q2", False, created)],
    )
    return pid


async def place_hold(
    conn: DbConnection,
    *,
    student: uuid.UUID | None = None,
    category: str | None = None,
    reason: str = "litigation 2026/17",
) -> uuid.UUID:
    """An active legal hold, as a steward would place it."""
    hold_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO legal_holds (student_id, category, reason, placed_by)"
        " VALUES ($1, $2, $3, 'stf_steward') RETURNING id",
        student,
        category,
        reason,
    )
    return hold_id


async def certificates(conn: DbConnection, category: str | None = None) -> list[dict[str, Any]]:
    """Every deletion certificate (of ``category``), oldest first, counts decoded."""
    rows = await conn.fetch(
        "SELECT id, run_id, kind, category, policy_version, cutoff, counts::text AS counts,"
        " subjects_sha256 FROM deletion_certificates WHERE $1::text IS NULL OR category = $1"
        " ORDER BY issued_at, run_id",
        category,
    )
    return [{**dict(row), "counts": json.loads(row["counts"])} for row in rows]


async def audit_events(conn: DbConnection, action: str) -> list[dict[str, Any]]:
    """The audit events with ``action``, in seq order, details decoded."""
    rows = await conn.fetch(
        "SELECT seq, actor_pseudonym, actor_role, resource, resource_id, outcome, request_id,"
        " details::text AS details FROM audit_events WHERE action = $1 ORDER BY seq",
        action,
    )
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


async def snapshot(conn: DbConnection, tables: Iterable[str]) -> dict[str, list[str]]:
    """Every row of ``tables`` as text, sorted: equal snapshots mean nothing changed."""
    result: dict[str, list[str]] = {}
    for table in tables:
        rows = await conn.fetch(f"SELECT t::text AS row FROM {table} AS t")
        result[table] = sorted(row["row"] for row in rows)
    return result


def days_ago(days: float) -> datetime:
    """``AT`` minus ``days``."""
    return AT - timedelta(days=days)


@dataclass(frozen=True)
class Subject:
    """A student with a row in every table that can hold their data, and the ids of those
    rows (the associated data their ciphertexts are bound to)."""

    student: Student
    pseudonym: str
    request_id: uuid.UUID
    row_ids: tuple[str, ...]


async def seed_subject(
    conn: DbConnection, settings: Settings, cipher: FieldCipher, name: str, *, request: bool = True
) -> Subject:
    """A student with credentials, sessions, a guardian-consent token and its outbox
    message, failed logins, questions naming them, practice, consents, a temp file,
    audit and security events, and (``request``) a pending erasure request."""
    student = await add_student(conn, settings, cipher, name=name, credentials_used_at=AT)
    sid = student.id
    alias = pseudonym(settings, sid)
    index = BlindIndex(settings.index_key).email(student.email)
    await add_sessions(conn, sid, [days_ago(1), days_ago(2), days_ago(40)])
    await conn.execute(
        "INSERT INTO guardian_consent_tokens (token_hash, student_id, guardian_pseudonym,"
        " consents, expires_at) VALUES ($1, $2, $3, $4, now() + interval '7 days')",
        hashlib.sha256(sid.bytes).digest(),
        sid,
        Pseudonymiser(settings.pseudonym_key).pseudonym("guardian", student.guardian_email),
        {"terms": True},
    )
    outbox_id = uuid.uuid4()
    token = cipher.encrypt(
        "token-" + sid.hex, table="outbox", column="payload_token", row_id=outbox_id
    )
    await conn.execute(
        "INSERT INTO outbox (id, kind, recipient_enc, key_version, payload)"
        " VALUES ($1, 'guardian_consent', $2, $3, $4)",
        outbox_id,
        cipher.encrypt(
            student.guardian_email, table="outbox", column="recipient_enc", row_id=outbox_id
        ),
        cipher.primary_version,
        {"student_pseudonym": alias, "token_enc": b64url_encode(token), "expires_at": "x"},
    )
    await conn.executemany(
        "INSERT INTO login_attempts (email_index, ip_prefix) VALUES ($1, '102.89.4.0/24')",
        [(index,), (index,)],
    )
    questions = [
        await add_question(conn, cipher, sid, f"I am {name}, call {student.phone}", days_ago(3)),
        await add_question(conn, cipher, sid, f"Email me at {student.email.upper()}", days_ago(9)),
    ]
    practice = [await add_practice(conn, sid, days_ago(n)) for n in (2, 20)]
    await conn.executemany(
        "INSERT INTO consents (student_id, purpose, granted, given_by) VALUES ($1, $2, true,"
        " 'student')",
        [(sid, "terms"), (sid, "progress_emails")],
    )
    await conn.execute(
        "INSERT INTO temp_files (path, owner_pseudonym) VALUES ($1, $2)",
        f"exports/{alias}.zip",
        alias,
    )
    await conn.execute(
        "INSERT INTO audit_events (actor_pseudonym, actor_role, action, resource, resource_id,"
        " outcome) VALUES ($1, 'student', 'data.read', 'student_profile', $1, 'success')",
        alias,
    )
    await conn.execute(
        "INSERT INTO security_events (kind, actor_pseudonym, ip_prefix) VALUES"
        " ('login_failed', $1, '102.89.4.0/24')",
        alias,
    )
    request_id = uuid.uuid4()
    if request:
        await conn.execute(
            "INSERT INTO dsr_requests (id, student_id, type, due_at)"
            " VALUES ($1, $2, 'erasure', now() + interval '30 days')",
            request_id,
            sid,
        )
    ids = (str(sid), str(outbox_id), *(str(q) for q in questions), *(str(p) for p in practice))
    return Subject(student, alias, request_id, ids)

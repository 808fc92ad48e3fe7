"""Demo data for ``examstutor dev``: a handful of students (a minor with a guardian
among them), questions, practice and ten days of audit events — seeded once.

Every PII field is encrypted exactly as the API will store it, so the demo
exercises the same paths as real traffic. Passwords are printed for the tour.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from examstutor_platform.audit.events import COLUMNS
from examstutor_platform.crypto import (
    BlindIndex,
    DataKeyStore,
    FieldCipher,
    Pseudonymiser,
    hash_password,
    normalise_email,
)
from examstutor_platform.db.pool import connect
from examstutor_platform.masking import age_on, get_strategy
from examstutor_platform.settings import Settings

__all__ = ["DEMO_PASSWORD", "DemoStudent", "prepare_database", "seed_demo"]

DEMO_PASSWORD = "demo-Passw0rd!"  # noqa: S105 - printed for the local tour, dev only
AUDIT_DAYS = 10
AUDIT_EVENTS = 3000


@dataclass(frozen=True)
class DemoStudent:
    """One demo student as the registration form would give it."""

    full_name: str
    email: str
    date_of_birth: date
    phone: str | None = None
    guardian_email: str | None = None
    guardian_confirmed: bool = True


STUDENTS = (
    DemoStudent("Tunde Bakare", "tunde@example.ng", date(2006, 4, 2), "+2348031234567"),
    DemoStudent(
        "Adaeze Okonkwo", "adaeze@example.ng", date(2009, 9, 14), None, "mrs.okonkwo@example.ng"
    ),
    DemoStudent(
        "Aisha Bello",
        "aisha@example.ng",
        date(2010, 1, 30),
        "+2348059876543",
        "alhaji.bello@example.ng",
        guardian_confirmed=False,
    ),
    DemoStudent("Chukwuemeka Ọkafọr", "emeka@example.ng", date(2007, 12, 1)),
    DemoStudent("Ngozi Eze", "ngozi@example.ng", date(2011, 6, 21), None, "papa.eze@example.ng"),
    DemoStudent("Ibrahim Musa", "ibrahim@example.ng", date(2005, 3, 8), "+2348023456789"),
)
QUESTIONS = (
    ("mathematics", "How do I factorise x² − 5x + 6 quickly in the exam?"),
    ("physics", "Why does a ball thrown upward have zero velocity at the top?"),
    ("english", "When do I use 'fewer' instead of 'less'?"),
    ("chemistry", "What is the difference between an element and a compound?"),
)
ACTIONS = (
    ("data.read", "student_profile"),
    ("auth.login", "session"),
    ("student.practice", "practice_session"),
    ("student.question", "question"),
    ("data.export", "student_export"),
)


async def prepare_database(settings: Settings, url: str, *, seed: bool) -> list[str]:
    """Make sure a primary data key exists; seed the demo once. Returns lines to print."""
    conn = await connect(url)
    try:
        version = await DataKeyStore().ensure_primary(conn, settings.keks)
        notes = [f"primary data key v{version}"]
        if not seed:
            return notes
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM students)"):
            return [*notes, "already seeded"]
        notes.extend(await seed_demo(conn, settings))
        return notes
    finally:
        await conn.close()


async def seed_demo(conn: asyncpg.Connection, settings: Settings) -> list[str]:
    """Insert the demo rows in one transaction; returns lines describing them."""
    keyring = await DataKeyStore().load(conn, settings.keks)
    cipher = FieldCipher(keyring)
    index = BlindIndex(settings.index_key)
    pseudonyms = Pseudonymiser(settings.pseudonym_key)
    today = datetime.now(UTC).date()
    age_band = get_strategy("generalise_date", granularity="age_band", as_of=today)
    password_hash = hash_password(DEMO_PASSWORD)
    rng = random.Random(20261126)
    student_ids: list[uuid.UUID] = []

    async with conn.transaction():
        for student in STUDENTS:
            sid = uuid.uuid4()
            student_ids.append(sid)
            minor = age_on(student.date_of_birth, today) < 18
            status = (
                "pending_guardian_consent" if minor and not student.guardian_confirmed else "active"
            )

            def enc(value: str | None, column: str, row: uuid.UUID = sid) -> bytes | None:
                if value is None:
                    return None
                return cipher.encrypt(value, table="students", column=column, row_id=str(row))

            await conn.execute(
                "INSERT INTO students (id, email_index, email_enc, full_name_enc, phone_enc,"
                " date_of_birth_enc, guardian_email_enc, key_version, age_band, status)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                sid,
                index.email(student.email),
                enc(student.email, "email_enc"),
                enc(student.full_name, "full_name_enc"),
                enc(student.phone, "phone_enc"),
                enc(student.date_of_birth.isoformat(), "date_of_birth_enc"),
                enc(student.guardian_email, "guardian_email_enc"),
                cipher.primary_version,
                age_band.mask(student.date_of_birth),
                status,
            )
            await conn.execute(
                "INSERT INTO credentials (student_id, password_hash) VALUES ($1, $2)",
                sid,
                password_hash,
            )
            guardian = (
                pseudonyms.pseudonym("guardian", normalise_email(student.guardian_email))
                if student.guardian_email
                else None
            )
            if not minor or student.guardian_confirmed:
                for purpose, granted in (("terms", True), ("progress_emails", minor is False)):
                    await conn.execute(
                        "INSERT INTO consents (student_id, purpose, granted, given_by,"
                        " guardian_pseudonym) VALUES ($1, $2, $3, $4, $5)",
                        sid,
                        purpose,
                        granted,
                        "guardian" if minor else "student",
                        guardian if minor else None,
                    )
        for position, (subject, body) in enumerate(QUESTIONS):
            sid = student_ids[position % len(student_ids)]
            qid = uuid.uuid4()
            await conn.execute(
                "INSERT INTO questions (id, student_id, subject, body_enc, key_version)"
                " VALUES ($1, $2, $3, $4, $5)",
                qid,
                sid,
                subject,
                cipher.encrypt(body, table="questions", column="body_enc", row_id=str(qid)),
                cipher.primary_version,
            )
        for sid in student_ids[:4]:
            picked = [f"waec-mathematics-{n:03d}" for n in rng.sample(range(1, 11), 5)]
            session_id = uuid.uuid4()
            await conn.execute(
                "INSERT INTO practice_sessions (id, student_id, exam, subject, question_ids,"
                " num_questions, score, completed_at) VALUES ($1, $2, 'waec', 'mathematics',"
                " $3, 5, $4, now())",
                session_id,
                sid,
                picked,
                rng.randint(1, 5),
            )
        events = _audit_events(rng, [pseudonyms.pseudonym("student", str(s)) for s in student_ids])
        await conn.copy_records_to_table(
            "audit_events", records=events, columns=("occurred_at", *COLUMNS)
        )
    minors = sum(1 for s in STUDENTS if age_on(s.date_of_birth, today) < 18)
    return [
        f"{len(STUDENTS)} students ({minors} under 18, one awaiting guardian consent), "
        f"password {DEMO_PASSWORD!r}, e.g. {STUDENTS[0].email}",
        f"{len(QUESTIONS)} tutor questions, 4 practice sessions",
        f"{len(events)} audit events over the last {AUDIT_DAYS} days",
    ]


def _audit_events(rng: random.Random, actors: list[str]) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    start = now - timedelta(days=AUDIT_DAYS)
    span = (now - start).total_seconds()
    moments = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(AUDIT_EVENTS))
    rows: list[tuple[Any, ...]] = []
    for moment in moments:
        action, resource = rng.choice(ACTIONS)
        actor = rng.choice(actors)
        rows.append(
            (
                moment,
                actor,
                "student",
                action,
                resource,
                actor if resource == "student_profile" else None,
                "success" if rng.random() > 0.03 else "denied",
                "low",
                f"102.89.{rng.randint(0, 255)}.0/24",
                uuid.UUID(int=rng.getrandbits(128)).hex,
                {"demo": True},
            )
        )
    return rows

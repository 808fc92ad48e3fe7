"""Accounts for the ``/v1/me`` and ``/v1/questions`` tests, made directly in the database.

Students and staff are inserted with the live app's own cipher and blind index,
and their tokens are issued by the app's own :class:`TokenIssuer` with a real
``auth_sessions`` row, so authentication runs exactly as it does after a login.
An account is a ``dict`` with ``id``, ``email``, ``password`` and ``token``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import pytest
from examstutor_testing import LiveApi

from examstutor_api.students import insert_student
from examstutor_platform.crypto import LIGHT_PROFILE, hash_password
from examstutor_platform.db import connect

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD, profile=LIGHT_PROFILE)

Account = dict[str, str]
IssueToken = Callable[[uuid.UUID, str, str], Awaitable[str]]
MakeStudent = Callable[..., Awaitable[Account]]
MakeStaff = Callable[[str], Awaitable[Account]]


@pytest.fixture
async def db(api: LiveApi) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the API's database (for setup and inspection)."""
    conn = await connect(api.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def issue_token(api: LiveApi, db: asyncpg.Connection) -> IssueToken:
    """Open a session for a subject and sign its access token, as a login does."""

    async def issue(subject_id: uuid.UUID, kind: str, role: str) -> str:
        token, claims = api.app.ctx.tokens.issue(subject_id, role)  # type: ignore[union-attr]
        await db.execute(
            "INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, ip_prefix, "
            "expires_at) VALUES ($1, $2, $3, $4, '127.0.0.0/24', $5)",
            claims.jti,
            subject_id,
            kind,
            role,
            claims.expires_at,
        )
        return token

    return issue


@pytest.fixture
def make_student(api: LiveApi, db: asyncpg.Connection, issue_token: IssueToken) -> MakeStudent:
    """Create a student (profile, credentials, consent ledger) and a token for them."""

    async def make(
        email: str | None = None,
        *,
        full_name: str = "Test Student",
        date_of_birth: date = date(2000, 1, 1),
        phone: str | None = "+2348012345678",
        guardian_email: str | None = None,
        status: str = "active",
        consents: dict[str, bool] | None = None,
        given_by: str = "student",
    ) -> Account:
        student_id = uuid.uuid4()
        email = email or f"s{student_id.hex[:10]}@example.ng"
        ctx = api.app.ctx
        async with db.transaction():
            await insert_student(
                db,
                ctx.cipher,
                ctx.index,
                student_id=student_id,
                email=email,
                full_name=full_name,
                date_of_birth=date_of_birth,
                phone=phone,
                guardian_email=guardian_email,
                status=status,
            )
            await db.execute(
                "INSERT INTO credentials (student_id, password_hash) VALUES ($1, $2)",
                student_id,
                _PASSWORD_HASH,
            )
            guardian = (
                ctx.pseudonyms.pseudonym("guardian", guardian_email) if guardian_email else None
            )
            ledger = {"terms": True} if consents is None else consents
            for purpose, granted in ledger.items():
                await db.execute(
                    "INSERT INTO consents (student_id, purpose, granted, given_by, "
                    "guardian_pseudonym) VALUES ($1, $2, $3, $4, $5)",
                    student_id,
                    purpose,
                    granted,
                    given_by,
                    guardian if given_by == "guardian" else None,
                )
        token = await issue_token(student_id, "student", "student")
        return {"id": str(student_id), "email": email, "password": PASSWORD, "token": token}

    return make


@pytest.fixture
async def student_a(make_student: MakeStudent) -> Account:
    """An adult, active student."""
    return await make_student("ada.a@example.ng", full_name="Ada Obi")


@pytest.fixture
async def student_b(make_student: MakeStudent) -> Account:
    """Another adult, active student."""
    return await make_student("bayo.b@example.ng", full_name="Bayo Bello")


@pytest.fixture
def make_staff(api: LiveApi, db: asyncpg.Connection, issue_token: IssueToken) -> MakeStaff:
    """Create a staff account of a role and a token for it."""

    async def make(role: str) -> Account:
        staff_id = uuid.uuid4()
        email = f"{role}-{staff_id.hex[:6]}@examstutor.ng"
        ctx = api.app.ctx
        await db.execute(
            "INSERT INTO staff (id, email_index, email_enc, key_version, role, password_hash) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            staff_id,
            ctx.index.email(email),
            ctx.cipher.encrypt(email, table="staff", column="email_enc", row_id=str(staff_id)),
            ctx.cipher.primary_version,
            role,
            _PASSWORD_HASH,
        )
        token = await issue_token(staff_id, "staff", role)
        return {"id": str(staff_id), "email": email, "password": PASSWORD, "token": token}

    return make


@pytest.fixture
def audit_count(db: asyncpg.Connection) -> Callable[[], Awaitable[int]]:
    """How many audit events are stored (the writer commits before the response)."""

    async def count() -> int:
        value: Any = await db.fetchval("SELECT count(*) FROM audit_events")
        return int(value)

    return count

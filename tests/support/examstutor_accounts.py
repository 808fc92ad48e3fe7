"""Accounts for API tests without going through the login route: students and staff
written straight into the test database, each with a live ``auth_sessions`` row and
a bearer token signed by the running app's issuer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
from examstutor_testing import LiveApi

from examstutor_api.students import insert_student
from examstutor_platform.crypto import LIGHT_PROFILE, hash_password
from examstutor_platform.db import connect
from examstutor_platform.staff import create_staff

__all__ = ["Account", "Accounts", "audit_count", "audit_events"]

_HASH = hash_password("staff password for tests", profile=LIGHT_PROFILE)


@dataclass(frozen=True)
class Account:
    """A signed-in account: its id, role, pseudonym and bearer header."""

    id: uuid.UUID
    role: str
    token: str
    pseudonym: str

    @property
    def headers(self) -> dict[str, str]:
        """``Authorization: Bearer …``."""
        return {"Authorization": f"Bearer {self.token}"}


class Accounts:
    """Makes signed-in students and staff for one running API."""

    def __init__(self, api: LiveApi) -> None:
        self.api = api

    async def _session(
        self, conn: asyncpg.Connection, subject: uuid.UUID, kind: str, role: str
    ) -> Account:
        ctx = self.api.app.ctx
        assert ctx.tokens is not None
        token, claims = ctx.tokens.issue(subject, role)
        await conn.execute(
            "INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, expires_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            claims.jti,
            subject,
            kind,
            role,
            claims.expires_at,
        )
        return Account(subject, role, token, ctx.pseudonyms.pseudonym(kind, str(subject)))

    async def student(self, status: str = "active", **profile: Any) -> Account:
        """A student (``active`` unless told) with a session."""
        ctx = self.api.app.ctx
        student_id = uuid.uuid4()
        conn = await connect(self.api.database_url)
        try:
            await insert_student(
                conn,
                ctx.cipher,
                ctx.index,
                student_id=student_id,
                email=profile.get("email", f"{student_id.hex[:12]}@example.ng"),
                full_name=profile.get("full_name", "Adaeze Test"),
                date_of_birth=profile.get("date_of_birth", date(2004, 4, 4)),
                phone=profile.get("phone"),
                guardian_email=profile.get("guardian_email"),
                status=status,
            )
            return await self._session(conn, student_id, "student", "student")
        finally:
            await conn.close()

    async def staff(self, role: str, email: str | None = None) -> Account:
        """A staff member of ``role`` with a session."""
        ctx = self.api.app.ctx
        conn = await connect(self.api.database_url)
        try:
            staff_id = await create_staff(
                conn,
                ctx.cipher,
                ctx.index,
                email or f"{role}-{uuid.uuid4().hex[:8]}@examstutor.ng",
                role,
                _HASH,
            )
            return await self._session(conn, staff_id, "staff", role)
        finally:
            await conn.close()

    async def everyone(self) -> dict[str, Account | None]:
        """One of each caller: anonymous (None), a student, an auditor, a steward, an admin."""
        return {
            "anonymous": None,
            "student": await self.student(),
            "auditor": await self.staff("auditor"),
            "steward": await self.staff("steward"),
            "admin": await self.staff("admin"),
        }


async def audit_events(database_url: str, request_id: str) -> list[asyncpg.Record]:
    """The audit events stored for one request."""
    conn = await connect(database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT * FROM audit_events WHERE request_id = $1 ORDER BY seq", request_id
        )
        return rows
    finally:
        await conn.close()


async def audit_count(database_url: str, request_id: str) -> int:
    """How many audit events one request left."""
    return len(await audit_events(database_url, request_id))

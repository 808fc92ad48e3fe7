"""Who is calling: the principal behind a bearer token, and role checks.

A token is accepted only when its signature and expiry verify AND its ``jti``
names a live ``auth_sessions`` row whose subject still exists and is allowed in
(a student not erased, a staff member not revoked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sanic import Request

from examstutor_api.errors import Forbidden, Unauthorized
from examstutor_platform.db.queries import load_queries

__all__ = ["STAFF_ROLES", "Principal", "authenticate", "require"]

Q = load_queries("examstutor_api.queries", "auth.sql")
STAFF_ROLES = ("auditor", "steward", "admin")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a student or a staff member."""

    subject_id: uuid.UUID
    kind: str
    role: str
    jti: uuid.UUID
    status: str
    pseudonym: str

    @property
    def is_student(self) -> bool:
        """True for a student's token."""
        return self.kind == "student"


async def authenticate(request: Request) -> Principal | None:
    """The caller's principal, None without an Authorization header, 401 if it is bad."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", code="token_invalid")
    ctx = request.app.ctx
    claims = ctx.tokens.verify(token.strip())
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(Q["session_principal"], claims.jti)
        if row is not None:
            await conn.execute(Q["touch_session"], claims.jti)
    if row is None or row["subject_id"] != claims.subject or row["role"] != claims.role:
        raise Unauthorized("the access token has been revoked or has expired", code="token_revoked")
    kind = row["subject_kind"]
    if kind == "student":
        status = row["student_status"]
        if status is None or status in ("erased", "anonymised"):
            raise Unauthorized("this account no longer exists", code="token_revoked")
    else:
        if row["staff_revoked_at"] is not None:
            raise Unauthorized("this staff account has been revoked", code="token_revoked")
        status = "active"
    principal = Principal(
        subject_id=claims.subject,
        kind=kind,
        role=claims.role,
        jti=claims.jti,
        status=status,
        pseudonym=ctx.pseudonyms.pseudonym(kind, str(claims.subject)),
    )
    request.ctx.principal = principal
    return principal


async def require(request: Request, *roles: str, allow_pending: bool = False) -> Principal:
    """The caller's principal if its role is one of ``roles``; 401 or 403 otherwise.

    A student still waiting for guardian consent passes only where
    ``allow_pending`` (their profile, export and requests)."""
    principal = getattr(request.ctx, "principal", None) or await authenticate(request)
    if principal is None:
        raise Unauthorized("sign in first: Authorization: Bearer <token>")
    if principal.role not in roles:
        raise Forbidden(f"this route is for {' or '.join(roles)} accounts")
    if principal.status == "pending_guardian_consent" and not allow_pending:
        raise Forbidden(
            "a guardian must confirm consent before this account can do that",
            code="guardian_consent_required",
        )
    return principal

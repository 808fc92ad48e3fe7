"""``/v1/staff``: admins list, create and revoke staff accounts.

A new account gets a random one-time password, returned once in the 201 and
stored only as its argon2id hash. Revoking an account ends its sessions at
once; an admin cannot revoke their own account (so one admin always remains).
Emails are shown masked (``a*****@e***.ng``); the audit log names staff by
pseudonym (``stf_…``).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse
from sanic_ext import openapi

from examstutor_api.auditing import audit_spec, audited, audited_transaction
from examstutor_api.auth.passwords import hash_password_async
from examstutor_api.auth.principal import STAFF_ROLES, require
from examstutor_api.bodies import EMAIL, constrain, json_body, parse_body
from examstutor_api.errors import Conflict, NotFound
from examstutor_api.routes.schemas import ERROR as _JSON_ERROR
from examstutor_api.routes.schemas import denials
from examstutor_platform.db.queries import load_queries
from examstutor_platform.masking import mask_email
from examstutor_platform.staff import TABLE, StaffExistsError, create_staff

__all__ = ["bp"]

bp = Blueprint("staff", url_prefix="/staff")

Q = load_queries("examstutor_api.queries", "staff.sql")
MAX_EMAIL_LENGTH = 254
#: 24 URL-safe characters: 144 random bits
_ONE_TIME_PASSWORD_BYTES = 18


def _email_problem(value: str) -> str | None:
    if len(value) > MAX_EMAIL_LENGTH or not EMAIL.match(value):
        return f"must be an email address of at most {MAX_EMAIL_LENGTH} characters"
    return None


def _role_problem(value: str) -> str | None:
    return None if value in STAFF_ROLES else f"must be one of {', '.join(STAFF_ROLES)}"


@dataclass(frozen=True)
class StaffBody:
    """A new staff account."""

    email: str = constrain(
        _email_problem, schema={"maxLength": MAX_EMAIL_LENGTH, "pattern": EMAIL.pattern}
    )
    role: str = constrain(_role_problem, schema={"enum": list(STAFF_ROLES)})


@dataclass(frozen=True)
class StaffEntry:
    """A staff account; the email is masked."""

    staff_id: str
    role: str
    email_masked: str
    pseudonym: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class StaffListAnswer:
    """Every staff account, oldest first."""

    staff: list[StaffEntry]


@dataclass(frozen=True)
class StaffCreatedAnswer:
    """The new account and its one-time password (shown only here)."""

    staff_id: str
    role: str
    email_masked: str
    one_time_password: str


@dataclass(frozen=True)
class StaffRevokedAnswer:
    """The revoked account and how many of its sessions ended."""

    staff_id: str
    role: str
    revoked_at: str
    sessions_revoked: int


_denials = denials("an admin")


def _pseudonym(request: Request, staff_id: uuid.UUID) -> str:
    pseudonym: str = request.app.ctx.pseudonyms.pseudonym("staff", str(staff_id))
    return pseudonym


@bp.get("")
@openapi.summary("Staff accounts (emails masked)")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": StaffListAnswer}, "Every staff account")
@_denials
@audited("data.read", "staff")
async def list_staff(request: Request) -> HTTPResponse:
    """Every staff account, oldest first, revoked ones included."""
    await require(request, "admin")
    cipher = request.app.ctx.cipher
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["list_staff"])
    staff = [
        {
            "staff_id": str(row["id"]),
            "role": row["role"],
            "email_masked": mask_email(
                cipher.decrypt_text(
                    row["email_enc"], table=TABLE, column="email_enc", row_id=str(row["id"])
                )
            ),
            "pseudonym": _pseudonym(request, row["id"]),
            "created_at": row["created_at"].isoformat(),
            "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
        }
        for row in rows
    ]
    audit_spec(request).details = {"operation": "list", "returned": len(staff)}
    return JSONResponse({"staff": staff})


@bp.post("")
@openapi.summary("Create a staff account with a role; returns a one-time password")
@openapi.description(
    "201 with a random password, shown only in this answer and stored as its argon2id "
    "hash. 409 `staff_exists` when the email already has an account (revoked ones included)."
)
@openapi.secured("bearer")
@openapi.body(json_body(StaffBody), required=True)
@openapi.response(201, {"application/json": StaffCreatedAnswer}, "The account")
@openapi.response(409, _JSON_ERROR, "The email already has a staff account")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@_denials
@audited("admin.role_assignment", "staff")
async def create(request: Request) -> HTTPResponse:
    """Create a staff account and assign its role."""
    await require(request, "admin")
    body = parse_body(request, StaffBody)
    spec = audit_spec(request)
    spec.severity = "medium"
    spec.details = {"operation": "create", "role": body.role}
    password = secrets.token_urlsafe(_ONE_TIME_PASSWORD_BYTES)
    password_hash = await hash_password_async(request, password)
    ctx = request.app.ctx
    async with audited_transaction(request, 201) as conn:
        try:
            staff_id = await create_staff(
                conn, ctx.cipher, ctx.index, body.email, body.role, password_hash
            )
        except StaffExistsError:
            raise Conflict(
                "this email already has a staff account", code="staff_exists", field="email"
            ) from None
        spec.resource_id = _pseudonym(request, staff_id)
    answer = JSONResponse(
        {
            "staff_id": str(staff_id),
            "role": body.role,
            "email_masked": mask_email(body.email),
            "one_time_password": password,
        },
        status=201,
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.delete("/<staff_id:uuid>")
@openapi.summary("Revoke a staff account and end its sessions")
@openapi.description(
    "409 `cannot_revoke_self` for your own account, 409 `staff_revoked` when it was "
    "revoked already."
)
@openapi.secured("bearer")
@openapi.response(200, {"application/json": StaffRevokedAnswer}, "The revoked account")
@openapi.response(404, _JSON_ERROR, "No such staff account")
@openapi.response(409, _JSON_ERROR, "Your own account, or already revoked")
@_denials
@audited("admin.role_assignment", "staff")
async def revoke(request: Request, staff_id: uuid.UUID) -> HTTPResponse:
    """Revoke a staff account; its tokens stop working at once."""
    principal = await require(request, "admin")
    spec = audit_spec(request)
    spec.severity = "medium"
    spec.resource_id = _pseudonym(request, staff_id)
    spec.details = {"operation": "revoke"}
    if staff_id == principal.subject_id:
        raise Conflict("an admin cannot revoke their own account", code="cannot_revoke_self")
    async with audited_transaction(request) as conn:
        row = await conn.fetchrow(Q["staff_for_update"], staff_id)
        if row is None:
            raise NotFound("no such staff account", code="staff_not_found")
        if row["revoked_at"] is not None:
            raise Conflict("this staff account was already revoked", code="staff_revoked")
        revoked_at = await conn.fetchval(Q["revoke_staff"], staff_id)
        status = await conn.execute(Q["revoke_staff_sessions"], staff_id)
        sessions = int(status.split()[-1])
        spec.details = {"operation": "revoke", "role": row["role"], "sessions_revoked": sessions}
    return JSONResponse(
        {
            "staff_id": str(staff_id),
            "role": row["role"],
            "revoked_at": revoked_at.isoformat(),
            "sessions_revoked": sessions,
        }
    )

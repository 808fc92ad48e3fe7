"""``/v1/me`` and ``/v1/me/password``: read and rectify the profile, change the password.

A student still waiting for guardian consent may read their profile and change
their password, not rectify. Rectification re-encrypts the whole row under the
primary data key and is recorded as a completed ``rectification`` request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse, empty
from sanic_ext import openapi

from examstutor_api.auditing import audit_spec, audited, audited_transaction, client_ip_prefix
from examstutor_api.auth import Principal, require
from examstutor_api.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password_async,
    password_problem,
    verify_password_async,
)
from examstutor_api.bodies import EMAIL, constrain, parse_body, parse_json_object, parse_value
from examstutor_api.errors import Conflict, NotFound, Unauthorized, Unprocessable, error_body
from examstutor_api.routes.schemas import (
    ERROR,
    TEXT,
    TEXT_OR_NULL,
    TIME,
    UUID,
    json_content,
    object_schema,
)
from examstutor_api.students import age_on, load_profile, rewrite_profile
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries

__all__ = [
    "ADULT_AGE",
    "PASSWORD_SCHEMA",
    "RECTIFY_SCHEMA",
    "PasswordBody",
    "RectifyBody",
    "bp",
    "own_student",
    "today",
]

bp = Blueprint("me_profile")
Q = load_queries("examstutor_api.queries", "me.sql")

ADULT_AGE = 18
MIN_AGE, MAX_AGE = 5, 120
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,22}[0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NULLABLE = frozenset({"phone"})


def _name_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if len(value) > 200:
        return "must be at most 200 characters"
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None


def _phone_problem(value: str) -> str | None:
    if not _PHONE.match(value):
        return "must be a phone number: digits, spaces, ( ) -, an optional leading +"
    return None


def _email_problem(value: str) -> str | None:
    if len(value) > 254 or not EMAIL.match(value):
        return "must be an email address"
    return None


def _secret_problem(value: str) -> str | None:
    if not value or len(value) > MAX_PASSWORD_LENGTH:
        return f"must be 1 to {MAX_PASSWORD_LENGTH} characters"
    return None


@dataclass(frozen=True)
class RectifyBody:
    """Fields to correct; at least one. Only ``phone`` may be null (to remove it)."""

    full_name: str | None = constrain(_name_problem, default=None)
    phone: str | None = constrain(_phone_problem, default=None)
    email: str | None = constrain(_email_problem, default=None)
    guardian_email: str | None = constrain(_email_problem, default=None)
    date_of_birth: date | None = None


@dataclass(frozen=True)
class PasswordBody:
    """The current password and the new one."""

    current_password: str = constrain(_secret_problem)
    new_password: str = constrain(password_problem)


_EMAIL_SCHEMA = {"type": "string", "format": "email", "maxLength": 254}
#: the bodies as OpenAPI documents them (a test keeps them in step with the dataclasses)
RECTIFY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "full_name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
        "phone": {"type": "string", "nullable": True, "pattern": _PHONE.pattern},
        "email": _EMAIL_SCHEMA,
        "guardian_email": _EMAIL_SCHEMA,
        "date_of_birth": {"type": "string", "format": "date"},
    },
}
PASSWORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["current_password", "new_password"],
    "properties": {
        "current_password": {"type": "string", "minLength": 1, "maxLength": MAX_PASSWORD_LENGTH},
        "new_password": {
            "type": "string",
            "minLength": MIN_PASSWORD_LENGTH,
            "maxLength": MAX_PASSWORD_LENGTH,
        },
    },
}
PROFILE = json_content(
    object_schema(
        student_id=UUID,
        email=TEXT,
        full_name=TEXT,
        phone=TEXT_OR_NULL,
        date_of_birth={"type": "string", "format": "date"},
        guardian_email=TEXT_OR_NULL,
        status=TEXT,
        age_band=TEXT_OR_NULL,
        created_at=TIME,
        updated_at=TIME,
        last_active_at=TIME,
    )
)


def today(request: Request) -> date:
    """Today in the business time zone (ages are counted on it)."""
    return datetime.now(request.app.ctx.settings.tz).date()


async def own_student(request: Request, *, allow_pending: bool = False) -> Principal:
    """The calling student (401/403 otherwise); the audit event's resource is them,
    pseudonymised: every route of ``/v1/me`` reaches the caller's own data only."""
    principal = await require(request, "student", allow_pending=allow_pending)
    audit_spec(request).resource_id = principal.pseudonym
    return principal


# ---------------------------------------------------------------- profile


@bp.get("")
@openapi.summary("Your profile, decrypted")
@openapi.secured("bearer")
@openapi.response(200, PROFILE, "the profile")
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student")
@audited("data.read", "student_profile")
async def read_profile(request: Request) -> HTTPResponse:
    """Read your own profile (allowed while guardian consent is pending)."""
    principal = await own_student(request, allow_pending=True)
    ctx = request.app.ctx
    async with ctx.pool.acquire() as conn:
        profile = await load_profile(conn, ctx.cipher, principal.subject_id)
    if profile is None:
        raise NotFound("no such profile")
    return JSONResponse(profile.as_json())


def _birth_problem(born: date, on: date) -> str | None:
    if born > on:
        return "must not be in the future"
    if not MIN_AGE <= age_on(born, on) <= MAX_AGE:
        return f"must give an age between {MIN_AGE} and {MAX_AGE}"
    return None


@bp.patch("")
@openapi.summary("Rectify your profile")
@openapi.description(
    "Correct full_name, phone (null removes it), email, guardian_email or date_of_birth. "
    "The whole row is re-encrypted under the primary data key, and a completed "
    "rectification request is added to your request history."
)
@openapi.secured("bearer")
@openapi.body({"application/json": {"schema": RECTIFY_SCHEMA}}, required=True)
@openapi.response(200, PROFILE, "the corrected profile")
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student, or guardian consent is pending")
@openapi.response(409, ERROR, "email_taken, or age_review_required")
@openapi.response(422, ERROR, "an invalid field, named in field")
@audited("data.update", "student_profile")
async def rectify_profile(request: Request) -> HTTPResponse:
    """Rectify your own profile (not while guardian consent is pending)."""
    principal = await own_student(request)
    data = parse_json_object(request)
    body = parse_value(data, RectifyBody, "")
    if not data:
        raise Unprocessable(
            "send at least one of full_name, phone, email, guardian_email, date_of_birth"
        )
    for name, value in data.items():
        if value is None and name not in _NULLABLE:
            raise Unprocessable(f"{name} must not be null", field=name)
    changes = {name: getattr(body, name) for name in data}
    now = today(request)
    if body.date_of_birth is not None:
        problem = _birth_problem(body.date_of_birth, now)
        if problem:
            raise Unprocessable(f"date_of_birth {problem}", field="date_of_birth")
    audit_spec(request).details["fields"] = sorted(changes)
    ctx = request.app.ctx
    student_id = principal.subject_id
    try:
        async with audited_transaction(request) as conn:
            profile = await load_profile(conn, ctx.cipher, student_id, for_update=True)
            if profile is None:
                raise NotFound("no such profile")
            if body.date_of_birth is not None and (
                age_on(profile.date_of_birth, now) < ADULT_AGE
            ) != (age_on(body.date_of_birth, now) < ADULT_AGE):
                raise Conflict(
                    "a date of birth that moves the account across the age of 18 changes who "
                    "may consent for it; ask a data steward to review the correction",
                    code="age_review_required",
                )
            if body.email is not None and await conn.fetchval(
                Q["email_taken_by_other"], ctx.index.email(body.email), student_id
            ):
                raise Conflict("that email belongs to another account", code="email_taken")
            await rewrite_profile(conn, ctx.cipher, ctx.index, profile, **changes)
            request_id = await conn.fetchval(
                Q["insert_completed_request"], student_id, "rectification", ctx.settings.dsr_days
            )
            updated = await load_profile(conn, ctx.cipher, student_id)
    except asyncpg.UniqueViolationError:  # the same email taken concurrently
        raise Conflict("that email belongs to another account", code="email_taken") from None
    audit_spec(request).details["request_id"] = str(request_id)
    assert updated is not None
    return JSONResponse(updated.as_json())


# ---------------------------------------------------------------- password


@bp.post("/password")
@openapi.summary("Change your password; your other sessions are signed out")
@openapi.secured("bearer")
@openapi.body({"application/json": {"schema": PASSWORD_SCHEMA}}, required=True)
@openapi.response(204, None, "changed; every other session is revoked")
@openapi.response(401, ERROR, "no valid token, or invalid_credentials: wrong current password")
@openapi.response(403, ERROR, "not a student")
@openapi.response(422, ERROR, "an invalid field, named in field")
@openapi.response(429, ERROR, "too many wrong passwords")
@audited("auth.password_change", "credentials")
async def change_password(request: Request) -> HTTPResponse:
    """Change your password (allowed while guardian consent is pending)."""
    principal = await own_student(request, allow_pending=True)
    body = parse_body(request, PasswordBody)
    if body.new_password == body.current_password:
        raise Unprocessable(
            "new_password must differ from the current password", field="new_password"
        )
    ctx, config = request.app.ctx, request.app.config
    student_id = principal.subject_id
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(Q["password_hash"], student_id)
        if row is None:
            raise Unauthorized("the current password is not correct", code="invalid_credentials")
        email_index = row["email_index"]
        recent = await conn.fetchval(
            Q["recent_email_attempts"], email_index, config.LOGIN_WINDOW_SECONDS
        )
        if recent >= config.LOGIN_MAX_FAILURES_PER_EMAIL:
            retry = await conn.fetchval(
                Q["email_retry_after"],
                email_index,
                config.LOGIN_WINDOW_SECONDS,
                config.LOGIN_MAX_FAILURES_PER_EMAIL,
            )
            return await _password_throttled(request, conn, principal, int(retry or 1))
        await conn.execute(Q["claim_password_attempt"], email_index, client_ip_prefix(request))
    if not await verify_password_async(request, body.current_password, row["password_hash"]):
        raise Unauthorized("the current password is not correct", code="invalid_credentials")
    new_hash = await hash_password_async(request, body.new_password)
    async with audited_transaction(request, 204) as conn:
        await conn.execute(Q["set_password"], student_id, new_hash)
        revoked = await conn.execute(Q["revoke_other_sessions"], student_id, principal.jti)
        await conn.execute(Q["clear_email_attempts"], email_index)
        audit_spec(request).details["sessions_revoked"] = int(revoked.split()[-1])
    return empty()


async def _password_throttled(
    request: Request, conn: DbConnection, principal: Principal, retry_after: int
) -> HTTPResponse:
    """429 with Retry-After, a security event and a high-severity audit event (as login)."""
    spec = audit_spec(request)
    spec.action, spec.severity = "security.rate_limited", "high"
    spec.details.update(scope="email", retry_after=retry_after)
    await conn.execute(
        Q["security_event"],
        "password_change_rate_limited",
        principal.pseudonym,
        client_ip_prefix(request),
        {"window_seconds": request.app.config.LOGIN_WINDOW_SECONDS, "retry_after": retry_after},
    )
    answer = JSONResponse(
        error_body(
            "rate_limited",
            "too many wrong passwords; try again later",
            request.ctx.request_id,
        ),
        status=429,
    )
    answer.headers["Retry-After"] = str(retry_after)
    return answer

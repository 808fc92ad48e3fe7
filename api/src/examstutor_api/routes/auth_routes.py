"""``/v1/auth``: register, guardian consent, login and logout.

* ``register`` creates the student, the credentials and either the consent
  ledger rows (adults) or a guardian-consent token and its outbox message
  (under 18) in ONE transaction; the argon2id hash is computed before it opens.
* ``guardian-consent`` turns a pending minor's account active and records the
  guardian as the one who consented.
* ``login`` serves students and staff alike, with one 401 for an unknown email
  and a wrong password (same message, same argon2 work), and a throttle kept in
  PostgreSQL so every replica sees the same failures.
* ``logout`` revokes the presented token's session.

Guardian-consent tokens are stored only as SHA-256. The outbox message carries
the token encrypted under the field key ring (unpadded base64url under
``payload.token_enc``, AAD ``outbox``/``payload_token``/the outbox id, as
``examstutor_platform.crypto.encrypted_columns`` registers it for key rotation),
so a mailer holding the keys can send the link while the database alone does
not reveal it. In ``dev`` the link is also logged (logger ``examstutor_api.guardian``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse
from sanic_ext import openapi

from examstutor_api.auditing import audit_spec, audited, audited_transaction, client_ip_prefix
from examstutor_api.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password_async,
    password_problem,
    verify_password_async,
)
from examstutor_api.auth.principal import STAFF_ROLES, require
from examstutor_api.bodies import EMAIL, constrain, json_body, parse_body
from examstutor_api.errors import Conflict, NotFound, Unauthorized, Unprocessable, error_body
from examstutor_api.routes.schemas import ERROR as _JSON_ERROR
from examstutor_api.students import age_on, insert_student
from examstutor_platform.crypto import normalise_email
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.masking import mask_email
from examstutor_platform.settings import b64url_encode

__all__ = ["bp"]

bp = Blueprint("auth", url_prefix="/auth")

AUTH = load_queries("examstutor_api.queries", "auth.sql")
REGISTRATION = load_queries("examstutor_api.queries", "registration.sql")
STUDENTS = load_queries("examstutor_api.queries", "students.sql")

_guardian_log = logging.getLogger("examstutor_api.guardian")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PHONE = re.compile(r"^\+[0-9]{7,15}$")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MAX_CONSENTS = 20
MIN_AGE, MAX_AGE, ADULT_AGE = 5, 120, 18
MAX_TOKEN_LENGTH = 128
_WRONG_CREDENTIALS = "email or password is wrong"


# ---------------------------------------------------------------- field checks


def _email_problem(value: str) -> str | None:
    if len(value) > MAX_EMAIL_LENGTH or not EMAIL.match(value):
        return f"must be an email address of at most {MAX_EMAIL_LENGTH} characters"
    return None


def _name_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_NAME_LENGTH or not value.strip():
        return f"must be 1 to {MAX_NAME_LENGTH} characters, not only spaces"
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "must not contain control characters"
    return None


def _phone_problem(value: str) -> str | None:
    return None if _PHONE.match(value) else "must be + followed by 7 to 15 digits"


def _consents_problem(value: dict[str, bool]) -> str | None:
    if len(value) > MAX_CONSENTS:
        return f"may name at most {MAX_CONSENTS} purposes"
    for purpose in value:
        if not _PURPOSE.match(purpose):
            return "purposes are 1-64 lowercase letters, digits or _, starting with a letter"
    return None


def _login_password_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_PASSWORD_LENGTH:
        return f"must be 1 to {MAX_PASSWORD_LENGTH} characters"
    return None


def _token_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_TOKEN_LENGTH:
        return f"must be 1 to {MAX_TOKEN_LENGTH} characters"
    return None


# ---------------------------------------------------------------- bodies and answers


_EMAIL_SCHEMA = {"maxLength": MAX_EMAIL_LENGTH, "pattern": EMAIL.pattern}


@dataclass(frozen=True)
class RegisterBody:
    """A new student account. ``consents`` maps purposes (lower-case letters, digits, _)
    to true or false and must grant ``terms``; under 18, ``guardian_email`` is required
    (and refused from adults)."""

    date_of_birth: date
    email: str = constrain(_email_problem, schema=_EMAIL_SCHEMA)
    password: str = constrain(
        password_problem,
        schema={"minLength": MIN_PASSWORD_LENGTH, "maxLength": MAX_PASSWORD_LENGTH},
    )
    full_name: str = constrain(
        _name_problem, schema={"minLength": 1, "maxLength": MAX_NAME_LENGTH, "pattern": r"\S"}
    )
    consents: dict[str, bool] = constrain(  # noqa: RUF009 (no default)
        _consents_problem,
        schema={
            "maxProperties": MAX_CONSENTS,
            "required": ["terms"],
            "properties": {"terms": {"type": "boolean", "enum": [True]}},
        },
    )
    phone: str | None = constrain(_phone_problem, schema={"pattern": _PHONE.pattern}, default=None)
    guardian_email: str | None = constrain(_email_problem, schema=_EMAIL_SCHEMA, default=None)


@dataclass(frozen=True)
class GuardianConsentBody:
    """The token from the guardian's confirmation link."""

    token: str = constrain(_token_problem, schema={"minLength": 1, "maxLength": MAX_TOKEN_LENGTH})


@dataclass(frozen=True)
class LoginBody:
    """Credentials of a student or a staff member."""

    email: str = constrain(_email_problem, schema=_EMAIL_SCHEMA)
    password: str = constrain(
        _login_password_problem, schema={"minLength": 1, "maxLength": MAX_PASSWORD_LENGTH}
    )


@dataclass(frozen=True)
class RegisteredAnswer:
    """The new account: ``active`` or ``pending_guardian_consent``."""

    student_id: str
    status: str


@dataclass(frozen=True)
class TokenAnswer:
    """A bearer access token."""

    access_token: str
    token_type: str
    expires_in: int


# ---------------------------------------------------------------- register


def _today(request: Request) -> date:
    return datetime.now(request.app.ctx.settings.tz).date()


def _check_registration(body: RegisterBody, today: date) -> bool:
    """Cross-field rules; True when the student is a minor."""
    if body.date_of_birth > today:
        raise Unprocessable("date_of_birth must not be in the future", field="date_of_birth")
    age = age_on(body.date_of_birth, today)
    if not MIN_AGE <= age <= MAX_AGE:
        raise Unprocessable(
            f"date_of_birth must give an age of {MIN_AGE} to {MAX_AGE}", field="date_of_birth"
        )
    if body.consents.get("terms") is not True:
        raise Unprocessable("consents.terms must be true to register", field="consents.terms")
    minor = age < ADULT_AGE
    if minor and body.guardian_email is None:
        raise Unprocessable(
            "guardian_email is required for students under 18", field="guardian_email"
        )
    if not minor and body.guardian_email is not None:
        raise Unprocessable("guardian_email is only for students under 18", field="guardian_email")
    if minor and normalise_email(body.guardian_email or "") == normalise_email(body.email):
        raise Unprocessable(
            "guardian_email must differ from the student's email", field="guardian_email"
        )
    return minor


@bp.post("/register")
@openapi.summary("Register a student account")
@openapi.description(
    "201 with the new account. Under 18 needs `guardian_email`; the account stays "
    "`pending_guardian_consent` until the guardian confirms. 409 `email_taken` when the "
    "email already has an account."
)
@openapi.body(json_body(RegisterBody), required=True)
@openapi.response(201, {"application/json": RegisteredAnswer}, "The account was created")
@openapi.response(409, _JSON_ERROR, "The email already has an account")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@audited("student.registration", "student")
async def register(request: Request) -> HTTPResponse:
    """Create a student account (and, for a minor, ask the guardian)."""
    body = parse_body(request, RegisterBody)
    minor = _check_registration(body, _today(request))
    ctx = request.app.ctx
    email_index = ctx.index.email(body.email)
    async with ctx.pool.acquire() as conn:
        if await conn.fetchval(REGISTRATION["email_in_use"], email_index):
            raise Conflict("this email already has an account", code="email_taken")
    password_hash = await hash_password_async(request, body.password)
    student_id = uuid.uuid4()
    status = "pending_guardian_consent" if minor else "active"
    cipher = ctx.cipher
    token: str | None = None
    async with audited_transaction(request, 201) as conn:
        try:
            await insert_student(
                conn,
                cipher,
                ctx.index,
                student_id=student_id,
                email=body.email,
                full_name=body.full_name,
                date_of_birth=body.date_of_birth,
                phone=body.phone,
                guardian_email=body.guardian_email,
                status=status,
            )
        except asyncpg.UniqueViolationError:  # registered by a concurrent request
            raise Conflict("this email already has an account", code="email_taken") from None
        await conn.execute(STUDENTS["insert_credentials"], student_id, password_hash)
        if minor:
            token = await _ask_guardian(request, conn, student_id, body)
        else:
            await conn.executemany(
                REGISTRATION["insert_consent"],
                [
                    (student_id, purpose, granted, "student", None)
                    for purpose, granted in body.consents.items()
                ],
            )
        pseudonym = ctx.pseudonyms.pseudonym("student", str(student_id))
        spec = audit_spec(request)
        spec.resource_id = spec.actor_pseudonym = pseudonym
        spec.actor_role = "student"
        spec.details = {"account_status": status}
    if token is not None and ctx.settings.env == "dev":
        _guardian_log.info(
            'guardian consent link for %s: POST /v1/auth/guardian-consent {"token": "%s"}',
            mask_email(body.guardian_email),
            token,
        )
    return JSONResponse({"student_id": str(student_id), "status": status}, status=201)


async def _ask_guardian(
    request: Request, conn: DbConnection, student_id: uuid.UUID, body: RegisterBody
) -> str:
    """Store the hashed token and queue the guardian's message; returns the token."""
    ctx = request.app.ctx
    cipher = ctx.cipher
    guardian_email = body.guardian_email or ""
    token = secrets.token_urlsafe(32)
    expires_at: datetime = await conn.fetchval(
        REGISTRATION["insert_guardian_token"],
        hashlib.sha256(token.encode()).digest(),
        student_id,
        ctx.pseudonyms.pseudonym("guardian", normalise_email(guardian_email)),
        dict(body.consents),
        int(request.app.config.GUARDIAN_TOKEN_TTL_DAYS),
    )
    outbox_id = uuid.uuid4()
    sealed_token = cipher.encrypt(token, table="outbox", column="payload_token", row_id=outbox_id)
    await conn.execute(
        REGISTRATION["insert_outbox"],
        outbox_id,
        "guardian_consent",
        cipher.encrypt(guardian_email, table="outbox", column="recipient_enc", row_id=outbox_id),
        cipher.primary_version,
        {
            "student_pseudonym": ctx.pseudonyms.pseudonym("student", str(student_id)),
            "token_enc": b64url_encode(sealed_token),
            "expires_at": expires_at.isoformat(),
        },
    )
    return token


# ---------------------------------------------------------------- guardian consent


@bp.post("/guardian-consent")
@openapi.summary("A guardian confirms consent for a student under 18")
@openapi.description(
    "The token comes from the guardian's confirmation message. 404 "
    "`consent_token_not_found` for an unknown or already used token, 409 "
    "`consent_token_expired` once it is past its 7 days. The consent ledger records the "
    "guardian as the one who consented."
)
@openapi.body(json_body(GuardianConsentBody), required=True)
@openapi.response(200, {"application/json": RegisteredAnswer}, "The account is active")
@openapi.response(404, _JSON_ERROR, "Unknown or already used token")
@openapi.response(409, _JSON_ERROR, "The token has expired")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@audited("ndpr.consent", "consent")
async def guardian_consent(request: Request) -> HTTPResponse:
    """Mark the token used, activate the student and record the guardian's consents."""
    body = parse_body(request, GuardianConsentBody)
    ctx = request.app.ctx
    spec = audit_spec(request)
    token_hash = hashlib.sha256(body.token.encode()).digest()
    async with audited_transaction(request) as conn:
        row = await conn.fetchrow(REGISTRATION["guardian_token_for_update"], token_hash)
        if row is not None:
            spec.resource_id = ctx.pseudonyms.pseudonym("student", str(row["student_id"]))
        if row is None or row["used_at"] is not None or row["status"] != "pending_guardian_consent":
            raise NotFound(
                "this consent link is unknown or was already used",
                code="consent_token_not_found",
            )
        if row["expired"]:
            raise Conflict(
                "this consent link has expired; the student can register again",
                code="consent_token_expired",
            )
        student_id: uuid.UUID = row["student_id"]
        guardian: str = row["guardian_pseudonym"]
        await conn.execute(REGISTRATION["use_guardian_token"], token_hash)
        await conn.execute(REGISTRATION["activate_student"], student_id)
        consents: dict[str, bool] = row["consents"]
        await conn.executemany(
            REGISTRATION["insert_consent"],
            [
                (student_id, purpose, bool(granted), "guardian", guardian)
                for purpose, granted in consents.items()
            ],
        )
        spec.actor_pseudonym = guardian
        spec.actor_role = "guardian"
        spec.details = {"purposes": sorted(consents)}
    return JSONResponse({"student_id": str(student_id), "status": "active"})


# ---------------------------------------------------------------- login and logout


@bp.post("/login")
@openapi.summary("Sign in (students and staff)")
@openapi.description(
    "200 with a bearer token. One 401 `invalid_credentials` for an unknown email and a "
    "wrong password. After repeated failures for an email or from a network, 429 "
    "`rate_limited` with `Retry-After`."
)
@openapi.body(json_body(LoginBody), required=True)
@openapi.response(200, {"application/json": TokenAnswer}, "Signed in")
@openapi.response(401, _JSON_ERROR, "Email or password is wrong")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@openapi.response(429, _JSON_ERROR, "Too many failed attempts; see Retry-After")
@audited("auth.login", "account")
async def login(request: Request) -> HTTPResponse:
    """Check the throttle, then the password; open a session on success."""
    body = parse_body(request, LoginBody)
    ctx, config = request.app.ctx, request.app.config
    spec = audit_spec(request)
    email_index = ctx.index.email(body.email)
    email_pseudonym = ctx.pseudonyms.pseudonym("email", normalise_email(body.email))
    spec.resource_id = email_pseudonym
    ip_prefix = client_ip_prefix(request)
    window = float(config.LOGIN_WINDOW_SECONDS)
    async with ctx.pool.acquire() as conn:
        attempt_id = await conn.fetchval(AUTH["claim_attempt"], email_index, ip_prefix)
        counts = await conn.fetchrow(AUTH["recent_failures"], email_index, ip_prefix, window)
        limited = _over_limit(request, counts["by_email"], counts["by_ip"])
        if limited is not None:
            await conn.execute(AUTH["release_attempt"], attempt_id)
            return await _rate_limited(request, conn, limited, email_index, ip_prefix)
        student = await conn.fetchrow(AUTH["student_login"], email_index)
        staff = (
            None if student is not None else await conn.fetchrow(AUTH["staff_login"], email_index)
        )
    subject = student if student is not None else staff
    password_hash: str | None = subject["password_hash"] if subject is not None else None
    if student is not None and student["status"] in ("erased", "anonymised"):
        password_hash = None  # same work and the same answer as an unknown email
    if not await verify_password_async(request, body.password, password_hash):
        spec.action = "auth.login_failed"
        raise Unauthorized(_WRONG_CREDENTIALS, code="invalid_credentials")
    assert subject is not None  # a hash matched
    kind, role = ("student", "student") if student is not None else ("staff", subject["role"])
    token, claims = ctx.tokens.issue(subject["id"], role)
    async with audited_transaction(request) as conn:
        await conn.execute(AUTH["clear_failures"], email_index)
        if kind == "student":
            await conn.execute(AUTH["record_login_success"], subject["id"])
        await conn.execute(
            AUTH["open_session"],
            claims.jti,
            subject["id"],
            kind,
            role,
            ip_prefix,
            claims.expires_at,
        )
        pseudonym = ctx.pseudonyms.pseudonym(kind, str(subject["id"]))
        spec.actor_pseudonym = spec.resource_id = pseudonym
        spec.actor_role = role
    answer = JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": ctx.tokens.ttl}
    )
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _over_limit(request: Request, by_email: int, by_ip: int) -> str | None:
    """Which limit the attempt (already counted) breaks: "email", "ip" or None."""
    config = request.app.config
    if by_email > config.LOGIN_MAX_FAILURES_PER_EMAIL:
        return "email"
    if by_ip > config.LOGIN_MAX_FAILURES_PER_IP:
        return "ip"
    return None


async def _rate_limited(
    request: Request, conn: DbConnection, scope: str, email_index: bytes, ip_prefix: str | None
) -> HTTPResponse:
    """429 with Retry-After, a security event and a high-severity audit event."""
    config = request.app.config
    window = float(config.LOGIN_WINDOW_SECONDS)
    if scope == "email":
        retry = await conn.fetchval(
            AUTH["email_retry_after"], email_index, window, config.LOGIN_MAX_FAILURES_PER_EMAIL
        )
    else:
        retry = await conn.fetchval(
            AUTH["ip_retry_after"], ip_prefix, window, config.LOGIN_MAX_FAILURES_PER_IP
        )
    retry_after = int(retry or 1)
    spec = audit_spec(request)
    await conn.execute(
        AUTH["security_event"],
        "login_rate_limited",
        spec.resource_id,
        ip_prefix,
        {"scope": scope, "window_seconds": int(window), "retry_after": retry_after},
    )
    spec.action = "security.rate_limited"
    spec.severity = "high"
    spec.details = {"scope": scope, "retry_after": retry_after}
    answer = JSONResponse(
        error_body(
            "rate_limited",
            "too many failed sign-in attempts; try again later",
            request.ctx.request_id,
        ),
        status=429,
    )
    answer.headers["Retry-After"] = str(retry_after)
    return answer


@bp.post("/logout")
@openapi.summary("Sign out: revoke the presented token")
@openapi.secured("bearer")
@openapi.response(204, None, "The token is revoked")
@openapi.response(401, _JSON_ERROR, "No valid token")
@audited("auth.logout", "account")
async def logout(request: Request) -> HTTPResponse:
    """Revoke the session behind the bearer token (any role, pending students too)."""
    principal = await require(request, "student", *STAFF_ROLES, allow_pending=True)
    async with request.app.ctx.pool.acquire() as conn:
        await conn.execute(AUTH["revoke_session"], principal.jti)
    audit_spec(request).resource_id = principal.pseudonym
    return HTTPResponse(status=204)

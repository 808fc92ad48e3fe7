"""CONTRACT §4 as one table, and a populated world to call it in (``tests/api/contract``).

:data:`ROUTES` names every route the API serves: who may call it, what an allowed
call answers, the audit action it leaves, and how to build a valid call (path
parameters and body) for a caller. :class:`World` holds a running API with two
students (A and B, registered and signed in through the API), one account per
staff role, and A's data spread over every table a staff route or B might read:
a profile with a phone, a tutor question, an answered practice session, an open
erasure request and its audit trail. The tests iterate the table; a route the
router serves but the table does not name fails them (:func:`served_routes`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from examstutor_accounts import Account, Accounts
from examstutor_testing import LiveApi

from examstutor_api.app import ExamsTutorApi
from examstutor_platform.db import connect
from examstutor_platform.settings import b64url_decode

__all__ = [
    "CALLERS",
    "EXPORT_DAY",
    "ROUTES",
    "ROUTES_BY_KEY",
    "Call",
    "Route",
    "Student",
    "World",
    "build_world",
    "leaks",
    "outcome_of",
    "served_routes",
]

#: everyone who calls: nobody, two students, one account per staff role
CALLERS = ("anonymous", "student_a", "student_b", "auditor", "steward", "admin")
ROLE_OF = {
    "student_a": "student",
    "student_b": "student",
    "auditor": "auditor",
    "steward": "steward",
    "admin": "admin",
}
EXPORT_DAY = "2026-01-15"
PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"
_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")


@dataclass(frozen=True)
class Call:
    """One concrete request: the URL (with query), a JSON body, and a token to use
    instead of the caller's own (None: the caller's)."""

    url: str
    body: Any = None
    token: str | None = None


Prepare = Callable[["World", str], Awaitable[Call]]


@dataclass(frozen=True)
class Route:
    """One route of CONTRACT §4.

    ``access``: ``public`` (anyone), ``any`` (any signed-in account), ``student``, or
    the one staff role. ``ok``: the status of an allowed, valid call. ``action``: the
    audit action it leaves (None: not audited, it touches no personal data).
    ``owned``: the path names one of student A's resources, so B gets 404."""

    method: str
    pattern: str
    access: str
    ok: int
    action: str | None
    prepare: Prepare
    owned: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """(method, router pattern): how the router names it."""
        return self.method, self.pattern

    @property
    def openapi_path(self) -> str:
        """The path as the OpenAPI document writes it (``{name}`` parameters)."""
        return _PARAMETER.sub(r"{\1}", self.pattern)

    @property
    def principal(self) -> str:
        """The caller an allowed call is made as."""
        if self.access in ("student", "any"):
            return "student_a"
        if self.access == "public":
            return "anonymous"
        return self.access

    @property
    def denied_caller(self) -> str | None:
        """A signed-in caller of the wrong role (None when every role may call)."""
        if self.access == "student":
            return "auditor"
        if self.access in ("auditor", "steward", "admin"):
            return "student_a" if self.access != "admin" else "steward"
        return None

    def expected(self, caller: str) -> int:
        """The status ``caller`` gets for a valid call."""
        if self.access == "public":
            return self.ok
        if caller == "anonymous":
            return 401
        if self.access == "any":
            return self.ok
        if ROLE_OF[caller] != self.access:
            return 403
        if self.owned and caller != "student_a":
            return 404
        return self.ok


@dataclass
class Student:
    """A student registered and signed in through the API."""

    account: Account
    email: str
    full_name: str
    phone: str
    date_of_birth: str
    password: str = PASSWORD


@dataclass
class World:
    """A running API with students A and B, staff of each role, and A's data."""

    api: LiveApi
    accounts: Accounts
    a: Student
    b: Student
    staff: dict[str, Account]
    login_email: str
    a_request_id: str
    a_question: str
    a_session_id: str

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client bound to the API."""
        return self.api.client

    def account(self, caller: str) -> Account | None:
        """The caller's account (None for anonymous)."""
        if caller == "anonymous":
            return None
        if caller == "student_a":
            return self.a.account
        if caller == "student_b":
            return self.b.account
        return self.staff[caller]

    def headers(self, caller: str) -> dict[str, str]:
        """The caller's Authorization header (none for anonymous)."""
        account = self.account(caller)
        return account.headers if account is not None else {}

    def secrets_of_a(self) -> tuple[str, ...]:
        """What nobody but A may ever read: A's identifiers and raw data."""
        return (
            self.a.email,
            self.a.email.lower(),
            self.a.full_name,
            self.a.full_name.split()[-1],
            self.a.phone.lstrip("+"),
            self.a.date_of_birth,
            str(self.a.account.id),
            self.a_question,
        )

    async def call(
        self,
        route: Route,
        caller: str,
        *,
        request_id: str | None = None,
        prepared: Call | None = None,
    ) -> httpx.Response:
        """Make a valid call of ``route`` as ``caller``."""
        call = prepared or await route.prepare(self, caller)
        headers = dict(self.headers(caller))
        if call.token is not None:
            headers["Authorization"] = f"Bearer {call.token}"
        if request_id is not None:
            headers["X-Request-ID"] = request_id
        return await self.client.request(
            route.method,
            call.url,
            content=None if call.body is None else json.dumps(call.body).encode(),
            headers={**headers, "Content-Type": "application/json"}
            if call.body is not None
            else headers,
        )

    async def fresh_token(self, caller: str) -> str:
        """A second session of the caller's account (for logout, which revokes it)."""
        account = self.account(caller)
        assert account is not None
        kind = "student" if account.role == "student" else "staff"
        conn = await connect(self.api.database_url)
        try:
            # Accounts opens sessions exactly as a login does
            second = await self.accounts._session(conn, account.id, kind, account.role)
        finally:
            await conn.close()
        return second.token


def leaks(response: httpx.Response, secrets: tuple[str, ...]) -> list[str]:
    """The secrets found in a response's bytes (body and headers)."""
    text = response.content.decode("utf-8", "replace") + "\n".join(
        f"{name}: {value}" for name, value in response.headers.items()
    )
    lowered = text.lower()
    return [secret for secret in secrets if secret.lower() in lowered]


def outcome_of(status: int) -> str:
    """The audit outcome a status leaves."""
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    return "failure" if status < 500 else "error"


def served_routes(app: ExamsTutorApi) -> set[tuple[str, str]]:
    """(method, path pattern) of every route the app serves, without the automatic
    HEAD and OPTIONS routes Sanic adds beside each GET and each path."""
    served = set()
    for route in app.router.routes:
        for method in route.methods:
            if method in ("HEAD", "OPTIONS"):
                continue
            served.add((method, "/" + route.path))
    return served


# ---------------------------------------------------------------- building calls


def _plain(url: str) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        return Call(url)

    return prepare


def _with_body(url: str, body: Callable[[World, str], Any]) -> Prepare:
    async def prepare(world: World, caller: str) -> Call:
        return Call(url, body(world, caller))

    return prepare


def _unique_email(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.ng"


def _register_body(world: World, caller: str) -> dict[str, Any]:
    return {
        "email": _unique_email("newcomer"),
        "password": PASSWORD,
        "full_name": "New Registrant",
        "date_of_birth": "2000-01-01",
        "consents": {"terms": True},
    }


def _minor_birth_date() -> str:
    today = datetime.now(UTC).date()
    return date(today.year - 15, today.month, min(today.day, 28)).isoformat()


async def _guardian_token(world: World) -> str:
    """Register a minor and read the guardian's token from the outbox, as a mailer would."""
    response = await world.client.post(
        "/v1/auth/register",
        json={
            "email": _unique_email("minor"),
            "password": PASSWORD,
            "full_name": "Young Learner",
            "date_of_birth": _minor_birth_date(),
            "guardian_email": _unique_email("guardian"),
            "consents": {"terms": True},
        },
    )
    assert response.status_code == 201, response.text
    ctx = world.api.app.ctx
    pseudonym = ctx.pseudonyms.pseudonym("student", response.json()["student_id"])
    conn = await connect(world.api.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT id, payload FROM outbox WHERE payload->>'student_pseudonym' = $1", pseudonym
        )
    finally:
        await conn.close()
    assert row is not None
    token: str = ctx.cipher.decrypt_text(
        b64url_decode(row["payload"]["token_enc"]),
        table="outbox",
        column="payload_token",
        row_id=str(row["id"]),
    )
    return token


async def _guardian_consent(world: World, caller: str) -> Call:
    return Call("/v1/auth/guardian-consent", {"token": await _guardian_token(world)})


async def _logout(world: World, caller: str) -> Call:
    if caller == "anonymous":
        return Call("/v1/auth/logout")
    return Call("/v1/auth/logout", token=await world.fresh_token(caller))


def _own_name(world: World, caller: str) -> dict[str, Any]:
    name = {"student_a": world.a.full_name, "student_b": world.b.full_name}
    return {"full_name": name.get(caller, "Somebody Else")}


def _password_body(world: World, caller: str) -> dict[str, Any]:
    current = {"student_a": world.a.password, "student_b": world.b.password}
    return {"current_password": current.get(caller, PASSWORD), "new_password": NEW_PASSWORD}


async def _answers(world: World, caller: str) -> Call:
    """A fresh practice session of A's (answering closes a session) and valid answers."""
    started = await world.client.post(
        "/v1/practice/sessions",
        json={"exam": "jamb", "subject": "biology", "num_questions": 2},
        headers=world.a.account.headers,
    )
    assert started.status_code == 201, started.text
    session = started.json()
    answers = [
        {"question_id": q["id"], "choice": sorted(q["choices"])[0]} for q in session["questions"]
    ]
    return Call(f"/v1/practice/sessions/{session['session_id']}/answers", {"answers": answers})


async def _request_of_a(world: World, caller: str) -> Call:
    return Call(f"/v1/me/requests/{world.a_request_id}")


async def _export_file(world: World, caller: str) -> Call:
    return Call(f"/v1/audit/exports/{EXPORT_DAY}/events-0000.parquet")


async def _release_hold(world: World, caller: str) -> Call:
    placed = await world.client.post(
        "/v1/legal-holds",
        json={"category": "cache", "reason": "to be released"},
        headers=world.staff["steward"].headers,
    )
    assert placed.status_code == 201, placed.text
    return Call(f"/v1/legal-holds/{placed.json()['hold_id']}")


async def _revoke_staff(world: World, caller: str) -> Call:
    victim = await world.accounts.staff("auditor")
    return Call(f"/v1/staff/{victim.id}")


def _hold_on_a(world: World, caller: str) -> dict[str, Any]:
    return {"student_id": str(world.a.account.id), "reason": "litigation about student A"}


def _new_staff(world: World, caller: str) -> dict[str, Any]:
    return {"email": _unique_email("staffer"), "role": "auditor"}


def _login(world: World, caller: str) -> dict[str, Any]:
    return {"email": world.login_email, "password": PASSWORD}


ROUTES: tuple[Route, ...] = (
    # health, operations, documentation: public, not audited
    Route("GET", "/health/live", "public", 200, None, _plain("/health/live")),
    Route("GET", "/health/ready", "public", 200, None, _plain("/health/ready")),
    Route("GET", "/metrics", "public", 200, None, _plain("/metrics")),
    Route("GET", "/docs", "public", 200, None, _plain("/docs")),
    Route("GET", "/docs/redoc", "public", 200, None, _plain("/docs/redoc")),
    Route("GET", "/docs/openapi.json", "public", 200, None, _plain("/docs/openapi.json")),
    Route("GET", "/v1/practice/exams", "public", 200, None, _plain("/v1/practice/exams")),
    # auth
    Route(
        "POST",
        "/v1/auth/register",
        "public",
        201,
        "student.registration",
        _with_body("/v1/auth/register", _register_body),
    ),
    Route("POST", "/v1/auth/guardian-consent", "public", 200, "ndpr.consent", _guardian_consent),
    Route(
        "POST", "/v1/auth/login", "public", 200, "auth.login", _with_body("/v1/auth/login", _login)
    ),
    Route("POST", "/v1/auth/logout", "any", 204, "auth.logout", _logout),
    # the student's own data
    Route("GET", "/v1/me", "student", 200, "data.read", _plain("/v1/me")),
    Route("PATCH", "/v1/me", "student", 200, "data.update", _with_body("/v1/me", _own_name)),
    Route(
        "POST",
        "/v1/me/password",
        "student",
        204,
        "auth.password_change",
        _with_body("/v1/me/password", _password_body),
    ),
    Route("GET", "/v1/me/export", "student", 200, "data.export", _plain("/v1/me/export")),
    Route(
        "POST", "/v1/me/erasure", "student", 202, "ndpr.erasure_request", _plain("/v1/me/erasure")
    ),
    Route("GET", "/v1/me/requests", "student", 200, "data.read", _plain("/v1/me/requests")),
    Route(
        "GET",
        "/v1/me/requests/<request_id:str>",
        "student",
        200,
        "data.read",
        _request_of_a,
        owned=True,
    ),
    Route("GET", "/v1/me/consents", "student", 200, "data.read", _plain("/v1/me/consents")),
    Route(
        "PUT",
        "/v1/me/consents/<purpose:str>",
        "student",
        200,
        "ndpr.consent",
        _with_body("/v1/me/consents/newsletter", lambda w, c: {"granted": False}),
    ),
    Route(
        "POST",
        "/v1/questions",
        "student",
        201,
        "student.question",
        _with_body(
            "/v1/questions", lambda w, c: {"subject": "physics", "body": "Why is sky blue?"}
        ),
    ),
    Route("GET", "/v1/questions", "student", 200, "data.read", _plain("/v1/questions")),
    Route(
        "POST",
        "/v1/practice/sessions",
        "student",
        201,
        "student.practice",
        _with_body(
            "/v1/practice/sessions",
            lambda w, c: {"exam": "waec", "subject": "physics", "num_questions": 3},
        ),
    ),
    Route(
        "POST",
        "/v1/practice/sessions/<session_id:uuid>/answers",
        "student",
        200,
        "student.practice",
        _answers,
        owned=True,
    ),
    Route(
        "GET", "/v1/practice/history", "student", 200, "data.read", _plain("/v1/practice/history")
    ),
    # auditors
    Route("GET", "/v1/audit/exports", "auditor", 200, "data.read", _plain("/v1/audit/exports")),
    Route(
        "GET", "/v1/audit/exports/<day:str>/<name:str>", "auditor", 200, "data.read", _export_file
    ),
    Route(
        "GET", "/v1/audit/public-key", "auditor", 200, "data.read", _plain("/v1/audit/public-key")
    ),
    Route(
        "GET",
        "/v1/audit/events",
        "auditor",
        200,
        "data.read",
        _plain("/v1/audit/events?limit=1000"),
    ),
    # stewards
    Route("GET", "/v1/dsr-requests", "steward", 200, "data.read", _plain("/v1/dsr-requests")),
    Route(
        "POST",
        "/v1/legal-holds",
        "steward",
        201,
        "ndpr.legal_hold",
        _with_body("/v1/legal-holds", _hold_on_a),
    ),
    Route(
        "GET",
        "/v1/legal-holds",
        "steward",
        200,
        "data.read",
        _plain("/v1/legal-holds?include_released=true"),
    ),
    Route(
        "DELETE", "/v1/legal-holds/<hold_id:uuid>", "steward", 200, "ndpr.legal_hold", _release_hold
    ),
    # admins
    Route("GET", "/v1/staff", "admin", 200, "data.read", _plain("/v1/staff")),
    Route(
        "POST",
        "/v1/staff",
        "admin",
        201,
        "admin.role_assignment",
        _with_body("/v1/staff", _new_staff),
    ),
    Route(
        "DELETE", "/v1/staff/<staff_id:uuid>", "admin", 200, "admin.role_assignment", _revoke_staff
    ),
)


#: the table by (method, router pattern)
ROUTES_BY_KEY = {route.key: route for route in ROUTES}


# ---------------------------------------------------------------- the world


async def _register(api: LiveApi, **fields: str) -> Student:
    response = await api.register(
        fields["email"],
        full_name=fields["full_name"],
        phone=fields["phone"],
        date_of_birth=fields["date_of_birth"],
    )
    assert response.status_code == 201, response.text
    student_id = uuid.UUID(response.json()["student_id"])
    token = await api.login(fields["email"])
    pseudonym = api.app.ctx.pseudonyms.pseudonym("student", str(student_id))
    return Student(Account(student_id, "student", token, pseudonym), **fields)


def _write_export_day(api: LiveApi) -> None:
    """``EXPORT_DIR/audit/2026-01-15/`` as the export pipeline leaves it (one events file
    and a manifest listing it with its SHA-256)."""
    day = Path(api.app.ctx.settings.export_dir) / "audit" / EXPORT_DAY
    day.mkdir(parents=True, exist_ok=True)
    events = os.urandom(4096)
    (day / "events-0000.parquet").write_bytes(events)
    manifest = {
        "format": "examstutor-audit-export/1",
        "date": EXPORT_DAY,
        "files": [
            {
                "name": "events-0000.parquet",
                "sha256": hashlib.sha256(events).hexdigest(),
                "rows": 3,
                "bytes": len(events),
            }
        ],
        "rows": 3,
        "signature": {"algorithm": "ed25519", "key_id": "0123456789abcdef", "value": "c2ln"},
    }
    (day / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


async def build_world(api: LiveApi) -> World:
    """Students A and B, one account per staff role, and A's data everywhere."""
    accounts = Accounts(api)
    a = await _register(
        api,
        email="Adaeze.Okonkwo@Example.ng",
        full_name="Adaeze Okonkwo",
        phone="+2348031112222",
        date_of_birth="1999-12-30",
    )
    b = await _register(
        api,
        email="bayo.bello@example.ng",
        full_name="Bayo Bello",
        phone="+2348039998888",
        date_of_birth="2001-07-14",
    )
    login_email = "login.only@example.ng"
    registered = await api.register(login_email)
    assert registered.status_code == 201, registered.text
    staff = {role: await accounts.staff(role) for role in ("auditor", "steward", "admin")}
    a_question = "Okonkwo family question: how do I revise photosynthesis?"
    asked = await api.client.post(
        "/v1/questions", json={"subject": "biology", "body": a_question}, headers=a.account.headers
    )
    assert asked.status_code == 201, asked.text
    erasure = await api.client.post("/v1/me/erasure", headers=a.account.headers)
    assert erasure.status_code == 202, erasure.text
    world = World(
        api=api,
        accounts=accounts,
        a=a,
        b=b,
        staff=staff,
        login_email=login_email,
        a_request_id=erasure.json()["request_id"],
        a_question=a_question,
        a_session_id="",
    )
    answered = await world.call(
        ROUTES_BY_KEY[("POST", "/v1/practice/sessions/<session_id:uuid>/answers")], "student_a"
    )
    assert answered.status_code == 200, answered.text
    world.a_session_id = answered.json()["session_id"]
    _write_export_day(api)
    return world

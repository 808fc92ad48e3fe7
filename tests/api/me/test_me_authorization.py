"""Who may call the ``/v1/me`` and ``/v1/questions`` routes, and one audit event per request.

Every route × {anonymous, forged, expired and revoked tokens, auditor, steward,
admin, student A, a student pending guardian consent} answers the expected
status and leaves exactly one audit event; student B never sees A's data.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import jwt
from examstutor_testing import LiveApi

Account = dict[str, str]
MakeStudent = Callable[..., Awaitable[Account]]
MakeStaff = Callable[[str], Awaitable[Account]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None
    pending_allowed: bool
    ok: int


def _routes(password: str) -> list[Route]:
    """Every route of this area; ``{rid}`` is one of the caller's own requests."""
    return [
        Route("GET", "/v1/me", None, True, 200),
        Route("PATCH", "/v1/me", {"full_name": "Renamed Student"}, False, 200),
        Route("GET", "/v1/me/export", None, True, 200),
        Route("GET", "/v1/me/export?format=zip", None, True, 200),
        Route("GET", "/v1/me/requests", None, True, 200),
        Route("GET", "/v1/me/requests/{rid}", None, True, 200),
        Route("GET", "/v1/me/consents", None, False, 200),
        Route("PUT", "/v1/me/consents/newsletter", {"granted": False}, False, 200),
        Route("POST", "/v1/questions", {"subject": "physics", "body": "Why?"}, False, 201),
        Route("GET", "/v1/questions", None, False, 200),
        Route("POST", "/v1/me/erasure", None, True, 202),
        # last: it revokes the caller's other sessions
        Route(
            "POST",
            "/v1/me/password",
            {"current_password": password, "new_password": "another long passphrase"},
            True,
            204,
        ),
    ]


async def _own_request(db: asyncpg.Connection, account: Account) -> str:
    request_id = await db.fetchval(
        "INSERT INTO dsr_requests (student_id, type, status, due_at, completed_at) "
        "VALUES ($1, 'access', 'completed', now() + interval '30 days', now()) RETURNING id",
        uuid.UUID(account["id"]),
    )
    return str(request_id)


async def _call(api: LiveApi, route: Route, token: str | None, rid: str) -> Any:
    headers = api.bearer(token) if token is not None else {}
    return await api.client.request(
        route.method,
        route.path.replace("{rid}", rid),
        json=route.body,
        headers=headers,
    )


async def test_authorization_matrix_with_one_audit_event_each(
    api: LiveApi,
    db: asyncpg.Connection,
    student_a: Account,
    make_staff: MakeStaff,
    audit_count: Callable[[], Awaitable[int]],
) -> None:
    a_request = await _own_request(db, student_a)
    tokens = api.app.ctx.tokens
    assert tokens is not None
    subject = uuid.UUID(student_a["id"])
    forged = jwt.encode(
        {"sub": student_a["id"], "role": "student", "jti": str(uuid.uuid4()), "exp": 2**31},
        "not-the-secret-" + "y" * 32,
        algorithm="HS256",
    )
    expired, _ = tokens.issue(subject, "student", now=datetime.now(UTC) - timedelta(hours=2))
    unknown_session, _ = tokens.issue(subject, "student")  # signed, but no session row
    denied: dict[str, tuple[str | None, int]] = {
        "anonymous": (None, 401),
        "forged": (forged, 401),
        "expired": (expired, 401),
        "no session": (unknown_session, 401),
        "garbage": ("x.y.z", 401),
    }
    for role in ("auditor", "steward", "admin"):
        denied[role] = ((await make_staff(role))["token"], 403)

    failures: list[tuple[object, ...]] = []
    for route in _routes(student_a["password"]):
        for caller, (token, expected) in denied.items():
            before = await audit_count()
            response = await _call(api, route, token, a_request)
            if response.status_code != expected:
                failures.append((caller, route.method, route.path, response.status_code))
            if await audit_count() - before != 1:
                failures.append((caller, route.method, route.path, "audit events"))
            assert "Ada" not in response.text and "ada.a@" not in response.text

        before = await audit_count()
        response = await _call(api, route, student_a["token"], a_request)
        if response.status_code != route.ok:
            failures.append(("student A", route.method, route.path, response.text))
        if await audit_count() - before != 1:
            failures.append(("student A", route.method, route.path, "audit events"))
    assert not failures, failures

    outcomes = await db.fetch("SELECT outcome, count(*) AS n FROM audit_events GROUP BY outcome")
    counts = {row["outcome"]: row["n"] for row in outcomes}
    assert counts == {"denied": 12 * 8, "success": 12}


async def test_a_student_pending_guardian_consent_reaches_only_some_routes(
    api: LiveApi,
    db: asyncpg.Connection,
    make_student: MakeStudent,
    audit_count: Callable[[], Awaitable[int]],
) -> None:
    pending = await make_student(
        date_of_birth=date(datetime.now(UTC).year - 14, 2, 2),
        guardian_email="guardian@example.ng",
        status="pending_guardian_consent",
        consents={},
    )
    own = await _own_request(db, pending)
    failures: list[tuple[object, ...]] = []
    for route in _routes(pending["password"]):
        before = await audit_count()
        response = await _call(api, route, pending["token"], own)
        if route.pending_allowed:
            if response.status_code != route.ok:
                failures.append((route.method, route.path, response.text))
        elif (
            response.status_code != 403
            or response.json()["error"]["code"] != "guardian_consent_required"
        ):
            failures.append((route.method, route.path, response.text))
        if await audit_count() - before != 1:
            failures.append((route.method, route.path, "audit events"))
    assert not failures, failures


async def test_student_b_never_sees_student_as_data(
    api: LiveApi,
    db: asyncpg.Connection,
    student_a: Account,
    student_b: Account,
) -> None:
    a_headers = api.bearer(student_a["token"])
    secret_question = "A-only question about quadratic equations"
    await api.client.post(
        "/v1/questions", json={"subject": "mathematics", "body": secret_question}, headers=a_headers
    )
    await api.client.put(
        "/v1/me/consents/a_only_purpose", json={"granted": True}, headers=a_headers
    )
    a_erasure = (await api.client.post("/v1/me/erasure", headers=a_headers)).json()["request_id"]
    a_markers = [student_a["id"], "ada.a@example.ng", "Ada Obi", secret_question, a_erasure]
    a_markers.append("a_only_purpose")

    b_headers = api.bearer(student_b["token"])
    for path in (
        "/v1/me",
        "/v1/me/export",
        "/v1/me/requests",
        "/v1/me/consents",
        "/v1/questions",
        f"/v1/me/requests/{a_erasure}",
    ):
        response = await api.client.get(path, headers=b_headers)
        for marker in a_markers:
            assert marker not in response.text, (path, marker)
    zipped = await api.client.get("/v1/me/export?format=zip", headers=b_headers)
    assert zipped.status_code == 200
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        text = "".join(archive.read(name).decode("utf-8") for name in archive.namelist())
    assert student_b["id"] in text
    for marker in a_markers:
        assert marker not in text, marker
    own = await api.client.get(f"/v1/me/requests/{a_erasure}", headers=b_headers)
    assert own.status_code == 404
    # B's erasure request is B's own, not A's
    b_erasure = (await api.client.post("/v1/me/erasure", headers=b_headers)).json()["request_id"]
    assert b_erasure != a_erasure

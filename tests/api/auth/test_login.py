"""Login and logout: one 401 for every wrong answer, a throttle every replica shares, sessions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import jwt
from examstutor_testing import LiveApi

from examstutor_platform.crypto import LIGHT_PROFILE, hash_password, normalise_email

PASSWORD = "correct horse battery"


async def one(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The single row ``query`` returns (it must return one)."""
    row: asyncpg.Record | None = await conn.fetchrow(query, *args)
    assert row is not None, query
    return row


async def audit_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM audit_events")
    return count


async def last_event(conn: asyncpg.Connection) -> asyncpg.Record:
    return await one(conn, "SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1")


async def login(api: LiveApi, email: str, password: str = PASSWORD) -> Any:
    return await api.client.post("/v1/auth/login", json={"email": email, "password": password})


async def test_login_opens_a_session_and_logout_revokes_it(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    response = await api.register("ada@example.ng")
    student_id = response.json()["student_id"]
    before = await audit_count(conn)
    answer = await login(api, "ADA@example.ng")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == api.app.config.ACCESS_TOKEN_TTL
    assert answer.headers["cache-control"] == "no-store"
    assert await audit_count(conn) == before + 1
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == student_id and claims["role"] == "student"

    session = await one(conn, "SELECT * FROM auth_sessions")
    assert str(session["jti"]) == claims["jti"]
    assert str(session["subject_id"]) == student_id
    assert (session["subject_kind"], session["role"]) == ("student", "student")
    assert session["ip_prefix"] == "127.0.0.0/24"
    assert session["revoked_at"] is None

    pseudonym = api.app.ctx.pseudonyms.pseudonym("student", student_id)
    event = await last_event(conn)
    assert (event["action"], event["outcome"]) == ("auth.login", "success")
    assert (event["actor_pseudonym"], event["actor_role"]) == (pseudonym, "student")
    assert event["ip_prefix"] == "127.0.0.0/24"

    out = await api.client.post("/v1/auth/logout", headers=api.bearer(body["access_token"]))
    assert out.status_code == 204
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM auth_sessions")
    event = await last_event(conn)
    assert (event["action"], event["outcome"], event["actor_pseudonym"]) == (
        "auth.logout",
        "success",
        pseudonym,
    )

    reused = await api.client.post("/v1/auth/logout", headers=api.bearer(body["access_token"]))
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_revoked"
    event = await last_event(conn)
    assert (event["action"], event["outcome"], event["actor_role"]) == (
        "auth.logout",
        "denied",
        "anonymous",
    )
    assert await audit_count(conn) == before + 3


async def test_logout_without_or_with_a_forged_token_is_401(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    bare = await api.client.post("/v1/auth/logout")
    assert bare.status_code == 401
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "role": "admin", "jti": str(uuid.uuid4())}, "g" * 40
    )
    response = await api.client.post("/v1/auth/logout", headers=api.bearer(forged))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
    assert await audit_count(conn) == 2


async def test_unknown_email_and_wrong_password_answer_alike(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    await api.register("known@example.ng")
    before = await audit_count(conn)
    wrong = await login(api, "known@example.ng", "not the password")
    unknown = await login(api, "nobody@example.ng", "not the password")
    assert wrong.status_code == unknown.status_code == 401

    def without_request_id(response: Any) -> bytes:
        request_id: str = response.json()["error"]["request_id"]
        content: bytes = response.content
        return content.replace(request_id.encode(), b"")

    assert without_request_id(wrong) == without_request_id(unknown)
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert wrong.json()["error"]["message"] == "email or password is wrong"
    assert set(wrong.headers) - {"x-request-id", "date"} == set(unknown.headers) - {
        "x-request-id",
        "date",
    }
    assert await audit_count(conn) == before + 2
    events = await conn.fetch(
        "SELECT action, outcome, actor_role, resource_id FROM audit_events ORDER BY seq DESC"
        " LIMIT 2"
    )
    for event in events:
        assert (event["action"], event["outcome"], event["actor_role"]) == (
            "auth.login_failed",
            "denied",
            "anonymous",
        )
        assert event["resource_id"].startswith("email_")
        assert "example" not in event["resource_id"]
    assert await conn.fetchval("SELECT count(*) FROM login_attempts") == 2
    assert await conn.fetchval("SELECT count(*) FROM auth_sessions") == 0


async def test_erased_students_cannot_sign_in(api: LiveApi, conn: asyncpg.Connection) -> None:
    await api.register("gone@example.ng")
    await conn.execute("UPDATE students SET status = 'erased'")
    response = await login(api, "gone@example.ng")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "email or password is wrong"


async def test_success_clears_the_failures_of_the_email(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    await api.register("forgetful@example.ng")
    for _ in range(4):
        assert (await login(api, "forgetful@example.ng", "wrong password")).status_code == 401
    assert (await login(api, "forgetful@example.ng")).status_code == 200
    assert await conn.fetchval("SELECT count(*) FROM login_attempts") == 0
    for _ in range(5):
        assert (await login(api, "forgetful@example.ng", "wrong password")).status_code == 401


async def test_sixth_failure_is_429_on_every_replica(
    api: LiveApi, conn: asyncpg.Connection, api_factory: Callable[..., Any]
) -> None:
    await api.register("target@example.ng")
    for _ in range(5):
        assert (await login(api, "target@example.ng", "guess guess")).status_code == 401
    before = await audit_count(conn)
    limited = await login(api, "target@example.ng", "guess guess")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    retry_after = int(limited.headers["retry-after"])
    assert 1 <= retry_after <= api.app.config.LOGIN_WINDOW_SECONDS
    assert await audit_count(conn) == before + 1
    event = await last_event(conn)
    assert (event["action"], event["severity"], event["outcome"]) == (
        "security.rate_limited",
        "high",
        "failure",
    )

    pseudonym = api.app.ctx.pseudonyms.pseudonym("email", normalise_email("target@example.ng"))
    security = await conn.fetch("SELECT * FROM security_events")
    assert len(security) == 1
    assert security[0]["kind"] == "login_rate_limited"
    assert security[0]["actor_pseudonym"] == pseudonym == event["resource_id"]
    assert security[0]["ip_prefix"] == "127.0.0.0/24"
    assert "target" not in str(dict(security[0]))

    # the right password does not get through either: the throttle comes first
    assert (await login(api, "target@example.ng")).status_code == 429
    # and another replica on the same database sees the same failures
    async with api_factory() as replica:
        other = await login(replica, "target@example.ng")
        assert other.status_code == 429
        assert "retry-after" in other.headers
    # throttled attempts are not counted as failures (the lock-out does not grow)
    assert await conn.fetchval("SELECT count(*) FROM login_attempts") == 5
    assert await conn.fetchval("SELECT count(*) FROM security_events") == 3
    # other accounts are not affected
    await api.register("bystander@example.ng")
    assert (await login(api, "bystander@example.ng")).status_code == 200


async def test_failures_from_one_network_are_throttled(
    api_factory: Callable[..., Any], conn: asyncpg.Connection
) -> None:
    async with api_factory(LOGIN_MAX_FAILURES_PER_IP=3) as live:
        for n in range(3):
            assert (await login(live, f"u{n}@example.ng", "guess guess")).status_code == 401
        limited = await login(live, "fresh@example.ng", "guess guess")
        assert limited.status_code == 429
        details = await conn.fetchval("SELECT details FROM security_events")
        assert details["scope"] == "ip"


async def test_staff_sign_in_on_the_same_route(api: LiveApi, conn: asyncpg.Connection) -> None:
    ctx = api.app.ctx
    staff_id = uuid.uuid4()
    email = "auditor@examstutor.ng"
    await conn.execute(
        "INSERT INTO staff (id, email_index, email_enc, key_version, role, password_hash)"
        " VALUES ($1, $2, $3, $4, 'auditor', $5)",
        staff_id,
        ctx.index.email(email),
        ctx.cipher.encrypt(email, table="staff", column="email_enc", row_id=str(staff_id)),
        ctx.cipher.primary_version,
        hash_password("auditor password 1", profile=LIGHT_PROFILE),
    )
    wrong = await login(api, email, "not it at all")
    assert wrong.status_code == 401
    answer = await login(api, email, "auditor password 1")
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert ctx.tokens is not None
    claims = ctx.tokens.verify(token)
    assert (claims.subject, claims.role) == (staff_id, "auditor")
    session = await one(conn, "SELECT subject_kind, role FROM auth_sessions")
    assert tuple(session) == ("staff", "auditor")
    event = await last_event(conn)
    assert (event["actor_pseudonym"], event["actor_role"]) == (
        ctx.pseudonyms.pseudonym("staff", str(staff_id)),
        "auditor",
    )
    assert (await api.client.post("/v1/auth/logout", headers=api.bearer(token))).status_code == 204

    await conn.execute("UPDATE staff SET revoked_at = now()")
    assert (await login(api, email, "auditor password 1")).status_code == 401


async def test_login_body_is_checked(api: LiveApi, conn: asyncpg.Connection) -> None:
    cases: list[tuple[Any, int, str | None]] = [
        ({"email": "a@example.ng"}, 422, "password"),
        ({"email": "a@example.ng", "password": ""}, 422, "password"),
        ({"email": "nope", "password": "x"}, 422, "email"),
        ({"email": "a@example.ng", "password": "x", "remember": True}, 422, "remember"),
        (["a@example.ng", "x"], 400, None),
    ]
    for body, status, field in cases:
        response = await api.client.post("/v1/auth/login", json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"].get("field") == field
    text = await api.client.post(
        "/v1/auth/login", content=b"email=a", headers={"content-type": "text/plain"}
    )
    assert text.status_code == 415
    assert await audit_count(conn) == len(cases) + 1
    assert await conn.fetchval("SELECT count(*) FROM login_attempts") == 0

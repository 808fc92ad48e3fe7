"""``POST /v1/me/password``: verify, replace, revoke the other sessions, throttle guesses."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from examstutor_testing import LiveApi

from examstutor_platform.crypto import verify_password

Account = dict[str, str]
IssueToken = Callable[[uuid.UUID, str, str], Awaitable[str]]
NEW_PASSWORD = "a much better passphrase"


async def test_change_password_revokes_every_other_session(
    api: LiveApi, db: asyncpg.Connection, student_a: Account, issue_token: IssueToken
) -> None:
    student_id = uuid.UUID(student_a["id"])
    other = await issue_token(student_id, "student", "student")
    assert (await api.client.get("/v1/me", headers=api.bearer(other))).status_code == 200

    response = await api.client.post(
        "/v1/me/password",
        json={"current_password": student_a["password"], "new_password": NEW_PASSWORD},
        headers=api.bearer(student_a["token"]),
    )
    assert response.status_code == 204, response.text
    assert response.content == b""

    revoked = await api.client.get("/v1/me", headers=api.bearer(other))
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "token_revoked"
    kept = await api.client.get("/v1/me", headers=api.bearer(student_a["token"]))
    assert kept.status_code == 200

    stored = await db.fetchrow(
        "SELECT password_hash, changed_at FROM credentials WHERE student_id = $1", student_id
    )
    assert stored is not None
    assert verify_password(NEW_PASSWORD, stored["password_hash"])
    assert not verify_password(student_a["password"], stored["password_hash"])
    details = await db.fetchval(
        "SELECT details FROM audit_events WHERE action = 'auth.password_change' "
        "ORDER BY seq DESC LIMIT 1"
    )
    assert details["sessions_revoked"] == 1


async def test_wrong_current_password_is_401_and_audited_as_denied(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    response = await api.client.post(
        "/v1/me/password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=api.bearer(student_a["token"]),
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    event = await db.fetchrow(
        "SELECT action, outcome, resource_id FROM audit_events ORDER BY seq DESC LIMIT 1"
    )
    assert event is not None
    assert (event["action"], event["outcome"]) == ("auth.password_change", "denied")
    assert event["resource_id"] == api.app.ctx.pseudonyms.pseudonym("student", student_a["id"])
    # the token still works: a wrong guess does not sign the student out
    assert (
        await api.client.get("/v1/me", headers=api.bearer(student_a["token"]))
    ).status_code == 200


async def test_new_password_must_be_acceptable_and_different(
    api: LiveApi, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    for new in ("short", "x" * 300, student_a["password"]):
        response = await api.client.post(
            "/v1/me/password",
            json={"current_password": student_a["password"], "new_password": new},
            headers=headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "new_password"
    missing = await api.client.post(
        "/v1/me/password", json={"new_password": NEW_PASSWORD}, headers=headers
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "current_password"


async def test_repeated_wrong_passwords_are_throttled(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    limit = api.app.config.LOGIN_MAX_FAILURES_PER_EMAIL
    body = {"current_password": "guess guess guess", "new_password": NEW_PASSWORD}
    for _ in range(limit):
        response = await api.client.post("/v1/me/password", json=body, headers=headers)
        assert response.status_code == 401
    throttled = await api.client.post(
        "/v1/me/password",
        json={"current_password": student_a["password"], "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["retry-after"]) <= api.app.config.LOGIN_WINDOW_SECONDS
    event = await db.fetchrow("SELECT action, severity FROM audit_events ORDER BY seq DESC LIMIT 1")
    assert event is not None
    assert (event["action"], event["severity"]) == ("security.rate_limited", "high")
    kinds = await db.fetch("SELECT kind FROM security_events")
    assert [row["kind"] for row in kinds] == ["password_change_rate_limited"]
    # the throttle is the login's: signing in with the right password is refused too
    login = await api.client.post(
        "/v1/auth/login", json={"email": student_a["email"], "password": student_a["password"]}
    )
    assert login.status_code == 429

"""Every staff route × {anonymous, student, auditor, steward, admin}: exactly the route's
role gets in, every attempt leaves one audit event, and no answer carries a student's PII."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from examstutor_accounts import Account, Accounts, audit_events
from examstutor_testing import LiveApi

from examstutor_platform.retention import load_policy

CALLERS = ("anonymous", "student", "auditor", "steward", "admin")


def routes() -> list[tuple[str, str, str, Any, int]]:
    """(method, path, role, body, status when the role calls it)."""
    category = load_policy().names()[0]
    return [
        ("GET", "/v1/audit/exports", "auditor", None, 200),
        ("GET", "/v1/audit/exports/2026-01-15/manifest.json", "auditor", None, 200),
        ("GET", "/v1/audit/exports/2026-01-15/events-0000.parquet", "auditor", None, 200),
        ("GET", "/v1/audit/public-key", "auditor", None, 200),
        ("GET", "/v1/audit/events?limit=5", "auditor", None, 200),
        ("GET", "/v1/dsr-requests", "steward", None, 200),
        ("GET", "/v1/legal-holds", "steward", None, 200),
        ("POST", "/v1/legal-holds", "steward", {"category": category, "reason": "audit"}, 201),
        ("DELETE", f"/v1/legal-holds/{uuid.uuid4()}", "steward", None, 404),
        ("GET", "/v1/staff", "admin", None, 200),
        ("POST", "/v1/staff", "admin", {"email": "EMAIL", "role": "auditor"}, 201),
        ("DELETE", f"/v1/staff/{uuid.uuid4()}", "admin", None, 404),
    ]


@pytest.mark.parametrize("caller", CALLERS)
async def test_role_matrix(api: LiveApi, accounts: Accounts, export_day: Path, caller: str) -> None:
    people = await accounts.everyone()
    who: Account | None = people[caller]
    for method, path, role, body, allowed in routes():
        if body is not None and body.get("email") == "EMAIL":
            body = {**body, "email": f"new-{uuid.uuid4().hex[:8]}@examstutor.ng"}
        expected = 401 if who is None else allowed if who.role == role else 403
        headers = {**(who.headers if who else {}), "X-Request-ID": uuid.uuid4().hex}
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == expected, (caller, method, path, response.text)
        events = await audit_events(api.database_url, headers["X-Request-ID"])
        assert len(events) == 1, (caller, method, path)
        (event,) = events
        assert event["outcome"] == {200: "success", 201: "success", 404: "failure"}.get(
            expected, "denied"
        )
        assert event["actor_pseudonym"] == (who.pseudonym if who else "anonymous")


async def test_forged_and_expired_tokens(api: LiveApi, accounts: Accounts) -> None:
    auditor = await accounts.staff("auditor")
    forged = auditor.token[:-4] + ("AAAA" if not auditor.token.endswith("AAAA") else "BBBB")
    for header in (f"Bearer {forged}", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer"):
        response = await api.client.get("/v1/audit/public-key", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert api.app.ctx.tokens is not None
    stale, _ = api.app.ctx.tokens.issue(
        auditor.id, "auditor", now=datetime.now(UTC) - timedelta(days=1)
    )
    expired = await api.client.get(
        "/v1/audit/public-key", headers={"Authorization": f"Bearer {stale}"}
    )
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    # a token whose role claim says admin, for a session opened as auditor
    wrong_role, _ = api.app.ctx.tokens.issue(auditor.id, "admin")
    escalated = await api.client.get("/v1/staff", headers={"Authorization": f"Bearer {wrong_role}"})
    assert escalated.status_code == 401


async def test_no_staff_route_returns_student_pii(
    api: LiveApi, accounts: Accounts, export_day: Path
) -> None:
    student = await accounts.student(
        email="temi.adeyemi@example.ng", full_name="Temitope Adeyemi", phone="+2348031234567"
    )
    practice = await api.client.post(
        "/v1/practice/sessions",
        json={"exam": "jamb", "subject": "biology", "num_questions": 2},
        headers=student.headers,
    )
    assert practice.status_code == 201
    staff = {role: await accounts.staff(role) for role in ("auditor", "steward", "admin")}
    hold = await api.client.post(
        "/v1/legal-holds",
        json={"student_id": str(student.id), "reason": "litigation"},
        headers=staff["steward"].headers,
    )
    assert hold.status_code == 201
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.execute(
            "INSERT INTO dsr_requests (student_id, type, due_at) VALUES ($1, 'erasure',"
            " now() + interval '30 days')",
            student.id,
        )
    finally:
        await conn.close()
    secrets = ("temi.adeyemi", "Temitope", "Adeyemi", "2348031234567", str(student.id))
    for method, path, role, _body, _status in routes():
        if method != "GET":
            continue
        response = await api.client.get(path, headers=staff[role].headers)
        assert response.status_code == 200, path
        text = response.content.decode("utf-8", "replace")
        for secret in secrets:
            assert secret not in text, (path, secret)
    events = await api.client.get(
        "/v1/audit/events", params={"limit": 1000}, headers=staff["auditor"].headers
    )
    assert student.pseudonym in events.text

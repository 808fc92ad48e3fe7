"""``/v1/staff``: admins list (emails masked), create with a one-time password, revoke."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from examstutor_accounts import Accounts, audit_events
from examstutor_testing import LiveApi

from examstutor_platform.crypto import verify_password
from examstutor_platform.masking import mask_email

STAFF = "/v1/staff"


def rid() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


async def test_list_masks_emails(api: LiveApi, accounts: Accounts) -> None:
    admin = await accounts.staff("admin", email="chief.admin@examstutor.ng")
    auditor = await accounts.staff("auditor", email="ngozi.auditor@firm.ng")
    headers = {**admin.headers, **rid()}
    response = await api.client.get(STAFF, headers=headers)
    assert response.status_code == 200
    listed = {s["staff_id"]: s for s in response.json()["staff"]}
    assert listed[str(auditor.id)]["email_masked"] == mask_email("ngozi.auditor@firm.ng")
    assert listed[str(auditor.id)]["role"] == "auditor"
    assert listed[str(auditor.id)]["pseudonym"] == auditor.pseudonym
    assert listed[str(admin.id)]["revoked_at"] is None
    assert "ngozi.auditor" not in response.text and "chief.admin" not in response.text
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"]) == ("data.read", "staff")


async def test_create_returns_a_one_time_password_once(api: LiveApi, accounts: Accounts) -> None:
    admin = await accounts.staff("admin")
    headers = {**admin.headers, **rid()}
    response = await api.client.post(
        STAFF, json={"email": "Funke.Steward@Examstutor.ng", "role": "steward"}, headers=headers
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["role"] == "steward"
    assert response.headers["cache-control"] == "no-store"
    password = created["one_time_password"]
    assert len(password) >= 20
    conn = await asyncpg.connect(api.database_url)
    try:
        row = await conn.fetchrow(
            "SELECT role, password_hash, email_enc FROM staff WHERE id = $1",
            uuid.UUID(created["staff_id"]),
        )
    finally:
        await conn.close()
    assert row is not None and row["role"] == "steward"
    assert row["password_hash"].startswith("$argon2id$")
    assert verify_password(password, row["password_hash"])
    assert b"Funke" not in bytes(row["email_enc"])
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"], event["outcome"]) == (
        "admin.role_assignment",
        "staff",
        "success",
    )
    assert event["resource_id"] == api.app.ctx.pseudonyms.pseudonym("staff", created["staff_id"])
    assert event["details"] == {
        "operation": "create",
        "role": "steward",
        "status": 201,
        "route": event["details"]["route"],
    }
    assert password not in str(dict(event))

    again = await api.client.post(
        STAFF, json={"email": "funke.steward@examstutor.ng", "role": "auditor"}, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "staff_exists"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "x@examstutor.ng", "role": "student"}, "role"),
        ({"email": "x@examstutor.ng", "role": "ADMIN"}, "role"),
        ({"email": "not an email", "role": "auditor"}, "email"),
        ({"role": "auditor"}, "email"),
        ({"email": "x@examstutor.ng", "role": "auditor", "password": "mine"}, "password"),
    ],
)
async def test_create_validation(
    api: LiveApi, accounts: Accounts, body: dict[str, str], field: str
) -> None:
    admin = await accounts.staff("admin")
    response = await api.client.post(STAFF, json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_revoke_ends_sessions_but_not_your_own(api: LiveApi, accounts: Accounts) -> None:
    admin = await accounts.staff("admin")
    auditor = await accounts.staff("auditor")
    works = await api.client.get("/v1/audit/exports", headers=auditor.headers)
    assert works.status_code == 200
    headers = {**admin.headers, **rid()}
    response = await api.client.delete(f"{STAFF}/{auditor.id}", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["sessions_revoked"] == 1
    assert response.json()["role"] == "auditor"
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource_id"]) == ("admin.role_assignment", auditor.pseudonym)
    assert event["details"]["operation"] == "revoke"
    locked_out = await api.client.get("/v1/audit/exports", headers=auditor.headers)
    assert locked_out.status_code == 401
    listed = await api.client.get(STAFF, headers=admin.headers)
    revoked = next(s for s in listed.json()["staff"] if s["staff_id"] == str(auditor.id))
    assert revoked["revoked_at"] is not None

    twice = await api.client.delete(f"{STAFF}/{auditor.id}", headers=admin.headers)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "staff_revoked")
    self_revoke = await api.client.delete(f"{STAFF}/{admin.id}", headers=admin.headers)
    assert (self_revoke.status_code, self_revoke.json()["error"]["code"]) == (
        409,
        "cannot_revoke_self",
    )
    unknown = await api.client.delete(f"{STAFF}/{uuid.uuid4()}", headers=admin.headers)
    assert unknown.status_code == 404
    still_admin = await api.client.get(STAFF, headers=admin.headers)
    assert still_admin.status_code == 200

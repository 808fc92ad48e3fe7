"""``GET /v1/me/consents`` and ``PUT /v1/me/consents/{purpose}``: an append-only ledger."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import asyncpg
import pytest
from examstutor_testing import LiveApi

Account = dict[str, str]
MakeStudent = Callable[..., Awaitable[Account]]


async def test_grant_and_withdraw_append_to_the_ledger(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    granted = await api.client.put(
        "/v1/me/consents/marketing_sms", json={"granted": True}, headers=headers
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["changed"] is True
    assert granted.json()["given_by"] == "student"
    same = await api.client.put(
        "/v1/me/consents/marketing_sms", json={"granted": True}, headers=headers
    )
    assert same.status_code == 200
    assert same.json()["changed"] is False
    withdrawn = await api.client.put(
        "/v1/me/consents/marketing_sms", json={"granted": False}, headers=headers
    )
    assert withdrawn.json()["granted"] is False

    listed = await api.client.get("/v1/me/consents", headers=headers)
    assert listed.status_code == 200
    body = listed.json()
    assert [(c["purpose"], c["granted"]) for c in body["consents"]] == [
        ("marketing_sms", False),
        ("terms", True),
    ]
    assert [(h["purpose"], h["granted"]) for h in body["history"]] == [
        ("terms", True),
        ("marketing_sms", True),
        ("marketing_sms", False),
    ]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("UPDATE consents SET granted = true WHERE purpose = 'marketing_sms'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await db.execute("DELETE FROM consents")


async def test_a_minor_may_withdraw_but_not_grant(
    api: LiveApi, db: asyncpg.Connection, make_student: MakeStudent
) -> None:
    born = date(datetime.now(UTC).year - 15, 1, 1)
    minor = await make_student(
        date_of_birth=born,
        guardian_email="parent@example.ng",
        consents={"terms": True, "analytics": True},
        given_by="guardian",
    )
    headers = api.bearer(minor["token"])
    grant = await api.client.put(
        "/v1/me/consents/marketing_email", json={"granted": True}, headers=headers
    )
    assert grant.status_code == 403
    assert grant.json()["error"]["code"] == "guardian_consent_required"
    withdraw = await api.client.put(
        "/v1/me/consents/analytics", json={"granted": False}, headers=headers
    )
    assert withdraw.status_code == 200, withdraw.text
    assert withdraw.json()["given_by"] == "student"
    regrant = await api.client.put(
        "/v1/me/consents/analytics", json={"granted": True}, headers=headers
    )
    assert regrant.status_code == 403
    history = await db.fetch(
        "SELECT purpose, granted, given_by FROM consents WHERE student_id = $1 ORDER BY id",
        uuid.UUID(minor["id"]),
    )
    assert [tuple(row) for row in history] == [
        ("terms", True, "guardian"),
        ("analytics", True, "guardian"),
        ("analytics", False, "student"),
    ]


async def test_withdrawing_terms_is_409_and_points_to_erasure(
    api: LiveApi, student_a: Account
) -> None:
    response = await api.client.put(
        "/v1/me/consents/terms", json={"granted": False}, headers=api.bearer(student_a["token"])
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "terms_required"
    assert "/v1/me/erasure" in response.json()["error"]["message"]


async def test_purpose_and_body_are_validated(api: LiveApi, student_a: Account) -> None:
    headers = api.bearer(student_a["token"])
    for purpose in ("Marketing", "9lives", "a" * 65, "sms-marketing", "%C3%A9t%C3%A9"):
        response = await api.client.put(
            f"/v1/me/consents/{purpose}", json={"granted": True}, headers=headers
        )
        assert response.status_code == 422, purpose
        assert response.json()["error"]["field"] == "purpose"
    for body, field in (
        ({}, "granted"),
        ({"granted": "yes"}, "granted"),
        ({"granted": 1}, "granted"),
        ({"granted": True, "by": "me"}, "by"),
    ):
        response = await api.client.put("/v1/me/consents/news", json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
    history = (await api.client.get("/v1/me/consents", headers=headers)).json()["history"]
    assert [h["purpose"] for h in history] == ["terms"]

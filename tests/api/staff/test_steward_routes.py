"""Stewards: the DSR queue (``due_at``, ``overdue``) and legal holds, students as pseudonyms."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from examstutor_accounts import Accounts, audit_events
from examstutor_testing import LiveApi

from examstutor_platform.retention import load_policy

HOLDS = "/v1/legal-holds"


def rid() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


async def _sql(api: LiveApi, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(api.database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows
    finally:
        await conn.close()


async def test_dsr_queue_flags_overdue_and_pseudonymises(api: LiveApi, accounts: Accounts) -> None:
    ada = await accounts.student(email="ada.obi@example.ng", full_name="Ada Obi")
    bayo = await accounts.student()
    insert = (
        "INSERT INTO dsr_requests (student_id, type, status, received_at, due_at, completed_at)"
        " VALUES ($1, $2, $3, now() - make_interval(days => $4), now() + make_interval(days => $5),"
        " CASE WHEN $3 = 'completed' THEN now() END) RETURNING id"
    )
    late = (await _sql(api, insert, ada.id, "erasure", "pending", 40, -10))[0]["id"]
    done = (await _sql(api, insert, bayo.id, "access", "completed", 40, -10))[0]["id"]
    fresh = (await _sql(api, insert, ada.id, "export", "in_progress", 1, 29))[0]["id"]
    steward = await accounts.staff("steward")
    headers = {**steward.headers, **rid()}
    response = await api.client.get("/v1/dsr-requests", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    queue = {r["request_id"]: r for r in body["requests"]}
    assert list(queue) == [str(late), str(done), str(fresh)]  # by due date
    assert (queue[str(late)]["overdue"], queue[str(done)]["overdue"]) == (True, False)
    assert queue[str(fresh)]["overdue"] is False
    assert body["overdue"] == 1
    assert queue[str(late)]["student"] == ada.pseudonym
    assert queue[str(done)]["student"] == bayo.pseudonym
    assert queue[str(late)]["due_at"] < queue[str(fresh)]["due_at"]
    for secret in (str(ada.id), str(bayo.id), "ada.obi@example.ng", "Ada Obi"):
        assert secret not in response.text
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"], event["actor_role"]) == (
        "data.read",
        "dsr_request",
        "steward",
    )

    pending = await api.client.get(
        "/v1/dsr-requests", params={"status": "pending"}, headers=steward.headers
    )
    assert [r["request_id"] for r in pending.json()["requests"]] == [str(late)]
    paged = await api.client.get(
        "/v1/dsr-requests", params={"limit": 1, "offset": 1}, headers=steward.headers
    )
    assert [r["request_id"] for r in paged.json()["requests"]] == [str(done)]
    for params in ({"status": "open"}, {"status": ""}, {"limit": "0"}, {"offset": "-1"}):
        bad = await api.client.get("/v1/dsr-requests", params=params, headers=steward.headers)
        assert bad.status_code == 422, params
        assert bad.json()["error"]["field"] == next(iter(params))


async def test_place_list_and_release_holds(api: LiveApi, accounts: Accounts) -> None:
    student = await accounts.student()
    steward, other = await accounts.staff("steward"), await accounts.staff("steward")
    category = load_policy().names()[0]
    headers = {**steward.headers, **rid()}
    placed = await api.client.post(
        HOLDS,
        json={"student_id": str(student.id), "reason": "Court order 2026/114 — préservation"},
        headers=headers,
    )
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert hold["student"] == student.pseudonym and hold["category"] is None
    assert (hold["placed_by"], hold["active"], hold["released_at"]) == (
        steward.pseudonym,
        True,
        None,
    )
    assert hold["reason"] == "Court order 2026/114 — préservation"
    assert str(student.id) not in placed.text
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"], event["resource_id"]) == (
        "ndpr.legal_hold",
        "legal_hold",
        hold["hold_id"],
    )
    assert event["details"]["student"] == student.pseudonym
    by_category = await api.client.post(
        HOLDS, json={"category": category, "reason": "regulator inquiry"}, headers=steward.headers
    )
    assert by_category.status_code == 201
    assert (by_category.json()["category"], by_category.json()["student"]) == (category, None)

    listed = await api.client.get(HOLDS, headers=steward.headers)
    assert [h["hold_id"] for h in listed.json()["holds"]] == [
        by_category.json()["hold_id"],
        hold["hold_id"],
    ]
    headers = {**other.headers, **rid()}
    released = await api.client.delete(f"{HOLDS}/{hold['hold_id']}", headers=headers)
    assert released.status_code == 200, released.text
    assert released.json()["released_by"] == other.pseudonym
    assert released.json()["active"] is False
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["details"]["operation"]) == ("ndpr.legal_hold", "release")
    (row,) = await _sql(
        api,
        "SELECT released_at, released_by FROM legal_holds WHERE id = $1",
        uuid.UUID(hold["hold_id"]),
    )
    assert row["released_at"] is not None and row["released_by"] == other.pseudonym

    active = await api.client.get(HOLDS, headers=steward.headers)
    assert [h["hold_id"] for h in active.json()["holds"]] == [by_category.json()["hold_id"]]
    everything = await api.client.get(
        HOLDS, params={"include_released": "true"}, headers=steward.headers
    )
    assert len(everything.json()["holds"]) == 2
    again = await api.client.delete(f"{HOLDS}/{hold['hold_id']}", headers=steward.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "hold_released"
    unknown = await api.client.delete(f"{HOLDS}/{uuid.uuid4()}", headers=steward.headers)
    assert unknown.status_code == 404
    bad_flag = await api.client.get(
        HOLDS, params={"include_released": "yes"}, headers=steward.headers
    )
    assert bad_flag.status_code == 422
    assert bad_flag.json()["error"]["field"] == "include_released"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "both"}, "student_id"),
        ({"student_id": None, "category": None, "reason": "neither"}, "student_id"),
        ({"student_id": "STUDENT", "category": "CATEGORY", "reason": "both"}, "category"),
        ({"student_id": "not-a-uuid", "reason": "x"}, "student_id"),
        ({"category": "everything", "reason": "x"}, "category"),
        ({"category": "'; DROP TABLE legal_holds; --", "reason": "x"}, "category"),
        ({"category": "CATEGORY"}, "reason"),
        ({"category": "CATEGORY", "reason": "   "}, "reason"),
        ({"category": "CATEGORY", "reason": "x" * 2001}, "reason"),
        ({"category": "CATEGORY", "reason": 7}, "reason"),
        ({"category": "CATEGORY", "reason": "x", "placed_by": "me"}, "placed_by"),
    ],
)
async def test_hold_validation_is_422_and_writes_nothing(
    api: LiveApi, accounts: Accounts, body: dict[str, Any], field: str
) -> None:
    student = await accounts.student()
    steward = await accounts.staff("steward")
    category = load_policy().names()[0]
    filled = {
        k: str(student.id) if v == "STUDENT" else category if v == "CATEGORY" else v
        for k, v in body.items()
    }
    response = await api.client.post(HOLDS, json=filled, headers=steward.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await _sql(api, "SELECT 1 FROM legal_holds") == []


async def test_hold_on_an_unknown_student_is_404(api: LiveApi, accounts: Accounts) -> None:
    steward = await accounts.staff("steward")
    response = await api.client.post(
        HOLDS, json={"student_id": str(uuid.uuid4()), "reason": "x"}, headers=steward.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "student_not_found"
    assert await _sql(api, "SELECT 1 FROM legal_holds") == []


async def test_malformed_hold_bodies(api: LiveApi, accounts: Accounts) -> None:
    steward = await accounts.staff("steward")
    as_form = await api.client.post(
        HOLDS, content=b"category=x", headers={**steward.headers, "Content-Type": "text/plain"}
    )
    assert as_form.status_code == 415
    broken = await api.client.post(
        HOLDS,
        content=b'{"category": ',
        headers={**steward.headers, "Content-Type": "application/json"},
    )
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_json")
    huge = await api.client.post(
        HOLDS, json={"category": "x", "reason": "x" * 100_000}, headers=steward.headers
    )
    assert huge.status_code == 413
    assert await _sql(api, "SELECT 1 FROM legal_holds") == []

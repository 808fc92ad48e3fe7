"""``POST /v1/me/erasure`` and ``GET /v1/me/requests[/{id}]``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import asyncpg
from examstutor_testing import LiveApi

Account = dict[str, str]


async def test_erasure_request_is_202_with_due_at(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    response = await api.client.post("/v1/me/erasure", headers=api.bearer(student_a["token"]))
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"request_id", "status", "due_at"}
    assert body["status"] == "pending"
    row = await db.fetchrow(
        "SELECT student_id, type, status, received_at, due_at FROM dsr_requests WHERE id = $1",
        uuid.UUID(body["request_id"]),
    )
    assert row is not None
    assert str(row["student_id"]) == student_a["id"]
    assert (row["type"], row["status"]) == ("erasure", "pending")
    assert row["due_at"] - row["received_at"] == timedelta(days=api.app.ctx.settings.dsr_days)
    assert datetime.fromisoformat(body["due_at"]) == row["due_at"]


async def test_erasure_request_is_idempotent_while_open(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    answers = await asyncio.gather(
        *(api.client.post("/v1/me/erasure", headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["request_id"] for r in answers}) == 1
    count = await db.fetchval("SELECT count(*) FROM dsr_requests WHERE type = 'erasure'")
    assert count == 1
    # once the pipelines complete it, a new request opens a new one
    await db.execute("UPDATE dsr_requests SET status = 'completed', completed_at = now()")
    again = await api.client.post("/v1/me/erasure", headers=headers)
    assert again.status_code == 202
    assert again.json()["request_id"] != answers[0].json()["request_id"]


async def test_requests_are_listed_newest_first_without_hold_reasons(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    await api.client.get("/v1/me/export", headers=headers)
    erasure = (await api.client.post("/v1/me/erasure", headers=headers)).json()
    await db.execute(
        "UPDATE dsr_requests SET status = 'on_hold', hold_reason = 'litigation 42/2026' "
        "WHERE id = $1",
        uuid.UUID(erasure["request_id"]),
    )
    listed = await api.client.get("/v1/me/requests", headers=headers)
    assert listed.status_code == 200
    requests = listed.json()["requests"]
    assert [(r["type"], r["status"]) for r in requests] == [
        ("erasure", "on_hold"),
        ("access", "completed"),
    ]
    assert "litigation" not in listed.text
    assert set(requests[0]) == {
        "request_id",
        "type",
        "status",
        "received_at",
        "due_at",
        "completed_at",
    }
    one = await api.client.get(f"/v1/me/requests/{erasure['request_id']}", headers=headers)
    assert one.status_code == 200
    assert one.json() == requests[0]
    assert "litigation" not in one.text


async def test_another_students_request_is_indistinguishable_from_none(
    api: LiveApi, student_a: Account, student_b: Account
) -> None:
    theirs = await api.client.post("/v1/me/erasure", headers=api.bearer(student_b["token"]))
    headers = api.bearer(student_a["token"])
    answers = [
        await api.client.get(f"/v1/me/requests/{theirs.json()['request_id']}", headers=headers),
        await api.client.get(f"/v1/me/requests/{uuid.uuid4()}", headers=headers),
        await api.client.get("/v1/me/requests/not-a-uuid", headers=headers),
        await api.client.get("/v1/me/requests/%27%3B%20DROP%20TABLE%20x", headers=headers),
    ]
    assert [a.status_code for a in answers] == [404] * 4
    assert len({a.json()["error"]["message"] for a in answers}) == 1
    assert (await api.client.get("/v1/me/requests", headers=headers)).json()["requests"] == []

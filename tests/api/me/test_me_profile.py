"""``GET /v1/me`` and ``PATCH /v1/me``: read and rectify, whole-row re-encryption."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import asyncpg
from examstutor_testing import LiveApi

from examstutor_api.students import PII_COLUMNS
from examstutor_platform.crypto import DataKeyStore, FieldCipher

Account = dict[str, str]
MakeStudent = Callable[..., Awaitable[Account]]


async def test_read_own_profile(api: LiveApi, student_a: Account) -> None:
    response = await api.client.get("/v1/me", headers=api.bearer(student_a["token"]))
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["student_id"] == student_a["id"]
    assert profile["email"] == "ada.a@example.ng"
    assert profile["full_name"] == "Ada Obi"
    assert profile["date_of_birth"] == "2000-01-01"
    assert profile["status"] == "active"


async def test_patch_rewrites_the_whole_row_under_the_new_primary_key(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    before = await db.fetchval(
        "SELECT key_version FROM students WHERE id = $1", uuid.UUID(student_a["id"])
    )
    new_version = await DataKeyStore().create_primary(db, api.app.ctx.settings.keks)
    await api.app.ctx.load_keyring()
    assert new_version != before

    response = await api.client.patch(
        "/v1/me", json={"full_name": "Ada Obi-Eze"}, headers=api.bearer(student_a["token"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Ada Obi-Eze"
    assert response.json()["email"] == "ada.a@example.ng"

    row = await db.fetchrow("SELECT * FROM students WHERE id = $1", uuid.UUID(student_a["id"]))
    assert row is not None
    assert row["key_version"] == new_version
    cipher: FieldCipher = api.app.ctx.cipher
    plain = {}
    for field, column in PII_COLUMNS.items():
        value = row[column]
        if value is None:
            continue
        # every encrypted column moved, not only the one that changed
        assert FieldCipher.key_version(value) == new_version, column
        plain[field] = cipher.decrypt_text(
            value, table="students", column=column, row_id=student_a["id"]
        )
    assert plain == {
        "email": "ada.a@example.ng",
        "full_name": "Ada Obi-Eze",
        "phone": "+2348012345678",
        "date_of_birth": "2000-01-01",
    }
    again = await api.client.get("/v1/me", headers=api.bearer(student_a["token"]))
    assert again.json()["full_name"] == "Ada Obi-Eze"


async def test_patch_records_a_completed_rectification_request(
    api: LiveApi, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    response = await api.client.patch("/v1/me", json={"phone": None}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["phone"] is None
    requests = (await api.client.get("/v1/me/requests", headers=headers)).json()["requests"]
    assert [(r["type"], r["status"]) for r in requests] == [("rectification", "completed")]
    assert requests[0]["completed_at"] is not None


async def test_patch_email_keeps_the_blind_index_unique(
    api: LiveApi, db: asyncpg.Connection, student_a: Account, student_b: Account
) -> None:
    headers = api.bearer(student_a["token"])
    taken = await api.client.patch("/v1/me", json={"email": "BAYO.B@example.ng"}, headers=headers)
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "email_taken"
    moved = await api.client.patch("/v1/me", json={"email": "ada.new@example.ng"}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["email"] == "ada.new@example.ng"
    index = await db.fetchval(
        "SELECT email_index FROM students WHERE id = $1", uuid.UUID(student_a["id"])
    )
    assert index == api.app.ctx.index.email("ada.new@example.ng")
    # the failed attempt wrote nothing: only the successful rectification is recorded
    count = await db.fetchval(
        "SELECT count(*) FROM dsr_requests WHERE student_id = $1", uuid.UUID(student_a["id"])
    )
    assert count == 1


async def test_patch_rejects_bad_fields_naming_them(api: LiveApi, student_a: Account) -> None:
    headers = api.bearer(student_a["token"])
    today = datetime.now(UTC).date()
    cases = [
        ({}, None),
        ({"full_name": None}, "full_name"),
        ({"full_name": "   "}, "full_name"),
        ({"full_name": 42}, "full_name"),
        ({"email": "not-an-email"}, "email"),
        ({"guardian_email": None}, "guardian_email"),
        ({"phone": "call me"}, "phone"),
        ({"date_of_birth": "01/02/2003"}, "date_of_birth"),
        ({"date_of_birth": (today + timedelta(days=1)).isoformat()}, "date_of_birth"),
        ({"date_of_birth": "1890-01-01"}, "date_of_birth"),
        ({"date_of_birth": (today - timedelta(days=365 * 3)).isoformat()}, "date_of_birth"),
        ({"nickname": "Ada"}, "nickname"),
        ({"status": "active"}, "status"),
    ]
    for body, field in cases:
        response = await api.client.patch("/v1/me", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"].get("field") == field, body
    unchanged = await api.client.get("/v1/me", headers=headers)
    assert unchanged.json()["full_name"] == "Ada Obi"


async def test_date_of_birth_across_eighteen_needs_review(
    api: LiveApi, make_student: MakeStudent
) -> None:
    adult = await make_student(date_of_birth=date(1999, 3, 4))
    headers = api.bearer(adult["token"])
    fine = await api.client.patch("/v1/me", json={"date_of_birth": "1998-03-04"}, headers=headers)
    assert fine.status_code == 200, fine.text
    assert fine.json()["date_of_birth"] == "1998-03-04"
    minor_birth = date(datetime.now(UTC).year - 12, 6, 1).isoformat()
    crossing = await api.client.patch(
        "/v1/me", json={"date_of_birth": minor_birth}, headers=headers
    )
    assert crossing.status_code == 409
    assert crossing.json()["error"]["code"] == "age_review_required"


async def test_unicode_and_sql_looking_names_are_kept_exactly(
    api: LiveApi, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    name = "Chíọmá O'Neil'); DROP TABLE students;-- 👩🏾‍🎓"
    response = await api.client.patch("/v1/me", json={"full_name": name}, headers=headers)
    assert response.status_code == 200, response.text
    assert (await api.client.get("/v1/me", headers=headers)).json()["full_name"] == name

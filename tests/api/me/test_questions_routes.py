"""``POST /v1/questions`` and ``GET /v1/questions``: encrypted at rest, returned exactly."""

from __future__ import annotations

import uuid

import asyncpg
from examstutor_testing import LiveApi

from examstutor_api.routes.questions import MAX_BODY_CHARS, subjects
from examstutor_platform.crypto import FieldCipher

Account = dict[str, str]

AWKWARD_BODIES = (
    "Robert'); DROP TABLE questions;-- what is x if 2x = 4?",
    "SELECT * FROM students WHERE '1'='1' /* */ $1 \\ %s {}",
    "Ìbéèrè: kí ni ìdáhùn? 数学の質問 — ¿por qué? 🧑🏿‍🏫\u200d\ufeff",
    "line one\nline two\r\n\ttabbed   spaced   ",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 𓀀 and an emoji 🇳🇬",
)


async def test_questions_round_trip_exactly(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    asked = []
    for body in AWKWARD_BODIES:
        response = await api.client.post(
            "/v1/questions", json={"subject": "mathematics", "body": body}, headers=headers
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["body"] == body
        assert created["subject"] == "mathematics"
        assert created["status"] == "open"
        asked.append(created)

    listed = await api.client.get("/v1/questions", headers=headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["next_offset"] is None
    assert [q["body"] for q in page["questions"]] == list(reversed(AWKWARD_BODIES))
    assert [q["question_id"] for q in page["questions"]] == [
        q["question_id"] for q in reversed(asked)
    ]

    rows = await db.fetch("SELECT id, body_enc, key_version FROM questions")
    cipher: FieldCipher = api.app.ctx.cipher
    for row in rows:
        stored = bytes(row["body_enc"])
        assert FieldCipher.key_version(stored) == row["key_version"]
        plain = cipher.decrypt_text(
            stored, table="questions", column="body_enc", row_id=str(row["id"])
        )
        assert plain in AWKWARD_BODIES
        assert plain.encode() not in stored


async def test_students_see_only_their_own_questions(
    api: LiveApi, student_a: Account, student_b: Account
) -> None:
    await api.client.post(
        "/v1/questions",
        json={"subject": "physics", "body": "A's question"},
        headers=api.bearer(student_a["token"]),
    )
    theirs = await api.client.get("/v1/questions", headers=api.bearer(student_b["token"]))
    assert theirs.json() == {"questions": [], "next_offset": None}


async def test_questions_are_paged(api: LiveApi, student_a: Account) -> None:
    headers = api.bearer(student_a["token"])
    for n in range(5):
        await api.client.post(
            "/v1/questions", json={"subject": "biology", "body": f"q{n}"}, headers=headers
        )
    first = (await api.client.get("/v1/questions?limit=2", headers=headers)).json()
    assert [q["body"] for q in first["questions"]] == ["q4", "q3"]
    assert first["next_offset"] == 2
    last = (await api.client.get("/v1/questions?limit=2&offset=4", headers=headers)).json()
    assert [q["body"] for q in last["questions"]] == ["q0"]
    assert last["next_offset"] is None
    for query in ("limit=0", "limit=201", "limit=two", "offset=-1", "limit=1&limit=2"):
        bad = await api.client.get(f"/v1/questions?{query}", headers=headers)
        assert bad.status_code == 422, query
        assert bad.json()["error"]["field"] in ("limit", "offset")


async def test_subject_and_body_are_validated(
    api: LiveApi, db: asyncpg.Connection, student_a: Account
) -> None:
    headers = api.bearer(student_a["token"])
    assert "mathematics" in subjects()
    cases = [
        ({"subject": "astrology", "body": "why?"}, "subject"),
        ({"subject": "Mathematics", "body": "why?"}, "subject"),
        ({"subject": "mathematics", "body": ""}, "body"),
        ({"subject": "mathematics", "body": " \n\t "}, "body"),
        ({"subject": "mathematics", "body": "x" * (MAX_BODY_CHARS + 1)}, "body"),
        ({"subject": "mathematics"}, "body"),
        ({"body": "why?"}, "subject"),
        ({"subject": ["mathematics"], "body": "why?"}, "subject"),
        ({"subject": "mathematics", "body": 7}, "body"),
        ({"subject": "mathematics", "body": "why?", "urgent": True}, "urgent"),
        ({"subject": "mathematics", "body": "nul \u0000 inside"}, "body"),
    ]
    for body, field in cases:
        response = await api.client.post("/v1/questions", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, body
    longest = await api.client.post(
        "/v1/questions",
        json={"subject": "mathematics", "body": "é" * MAX_BODY_CHARS},
        headers=headers,
    )
    assert longest.status_code == 201
    assert await db.fetchval("SELECT count(*) FROM questions") == 1
    assert str(await db.fetchval("SELECT student_id FROM questions")) == student_a["id"]
    assert uuid.UUID(longest.json()["question_id"])

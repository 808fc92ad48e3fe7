"""POST /v1/auth/register: what is stored (encrypted, exactly), what is refused, what is audited."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import examstutor_testing
from examstutor_testing import LiveApi

from examstutor_platform.crypto import DataKeyStore, FieldCipher

PASSWORD = "correct horse battery"


def years_ago(years: int, extra_days: int = 0) -> str:
    """An ISO date of birth giving an age of ``years`` (a few days past the birthday)."""
    today = datetime.now(UTC).date()
    born = date(today.year - years, today.month, min(today.day, 28))
    return date.fromordinal(born.toordinal() - extra_days).isoformat()


async def cipher_for(conn: asyncpg.Connection, home: Path) -> FieldCipher:
    """The field cipher of the test settings' key ring, independent of the server."""
    ring = await DataKeyStore().load(conn, examstutor_testing.test_settings(home).keks)
    return FieldCipher(ring)


async def one(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The single row ``query`` returns (it must return one)."""
    row: asyncpg.Record | None = await conn.fetchrow(query, *args)
    assert row is not None, query
    return row


async def audit_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM audit_events")
    return count


async def test_adult_registers_and_nothing_is_stored_in_plaintext(
    api: LiveApi, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    email = "Ada.Obi@example.ng"
    response = await api.register(
        email, full_name="Ada Obi", phone="+2348012345678", consents={"terms": True, "ads": False}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "active"
    student_id = uuid.UUID(body["student_id"])

    row = await one(conn, "SELECT * FROM students WHERE id = $1", student_id)
    assert row is not None
    raw = b"".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for value in row.values()
        if value is not None
    )
    for secret in (email, email.lower(), "Ada Obi", "2348012345678", years_ago(21)[:4] + "-"):
        assert secret.encode() not in raw
    credentials = await conn.fetchval(
        "SELECT password_hash FROM credentials WHERE student_id = $1", student_id
    )
    assert credentials.startswith("$argon2id$") and PASSWORD not in credentials

    cipher = await cipher_for(conn, tmp_path)
    assert (
        cipher.decrypt_text(
            row["email_enc"], table="students", column="email_enc", row_id=str(student_id)
        )
        == email
    )
    assert row["guardian_email_enc"] is None

    ledger = await conn.fetch(
        "SELECT purpose, granted, given_by, guardian_pseudonym FROM consents"
        " WHERE student_id = $1 ORDER BY purpose",
        student_id,
    )
    assert [tuple(r) for r in ledger] == [
        ("ads", False, "student", None),
        ("terms", True, "student", None),
    ]

    event = await one(
        conn, "SELECT * FROM audit_events WHERE action = 'student.registration' ORDER BY seq DESC"
    )
    assert event["outcome"] == "success"
    assert event["actor_role"] == "student"
    assert event["actor_pseudonym"] == event["resource_id"]
    assert event["resource_id"].startswith("stu_")
    assert "Ada" not in str(event["details"]) and "example" not in str(event["details"])


NAMES = [
    "Robert'); DROP TABLE students;--",
    "' OR '1'='1",
    "Ọlá Àdébáyọ̀ 李小龍 🚀",
    "  spaced  name  ",
    "\u0041\u030a vs \u00c5",
    "%s %d {0} ${x} <script>",
]


async def test_sql_looking_and_unicode_names_are_stored_exactly(
    api: LiveApi, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    cipher = await cipher_for(conn, tmp_path)
    for position, name in enumerate(NAMES):
        response = await api.register(f"n{position}@example.ng", full_name=name)
        assert response.status_code == 201, response.text
        student_id = response.json()["student_id"]
        stored = await conn.fetchval(
            "SELECT full_name_enc FROM students WHERE id = $1", uuid.UUID(student_id)
        )
        decrypted = cipher.decrypt_text(
            stored, table="students", column="full_name_enc", row_id=student_id
        )
        assert decrypted == name
    assert await conn.fetchval("SELECT count(*) FROM students") == len(NAMES)


async def test_the_email_is_unique_whatever_its_case(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    assert (await api.register("twice@example.ng")).status_code == 201
    again = await api.register("  TWICE@Example.NG".strip())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "email_taken"
    assert await conn.fetchval("SELECT count(*) FROM students") == 1


async def test_a_staff_email_cannot_be_registered_as_a_student(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    index = api.app.ctx.index
    cipher = api.app.ctx.cipher
    staff_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO staff (id, email_index, email_enc, key_version, role, password_hash)"
        " VALUES ($1, $2, $3, $4, 'auditor', 'x')",
        staff_id,
        index.email("auditor@examstutor.ng"),
        cipher.encrypt(
            "auditor@examstutor.ng", table="staff", column="email_enc", row_id=str(staff_id)
        ),
        cipher.primary_version,
    )
    response = await api.register("auditor@examstutor.ng")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a" * 250 + "@x.ng"}, "email"),
    ({"email": 42}, "email"),
    ({"password": "short"}, "password"),
    ({"password": "p" * 300}, "password"),
    ({"full_name": ""}, "full_name"),
    ({"full_name": "   "}, "full_name"),
    ({"full_name": "x" * 201}, "full_name"),
    ({"full_name": "line\nbreak"}, "full_name"),
    ({"date_of_birth": "2005-13-01"}, "date_of_birth"),
    ({"date_of_birth": "05/05/2005"}, "date_of_birth"),
    ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
    ({"date_of_birth": years_ago(4)}, "date_of_birth"),
    ({"date_of_birth": "1890-01-01"}, "date_of_birth"),
    ({"phone": "08012345678"}, "phone"),
    ({"phone": "+234 801 234"}, "phone"),
    ({"phone": "+123456"}, "phone"),
    ({"consents": {"ads": True}}, "consents.terms"),
    ({"consents": {"terms": False}}, "consents.terms"),
    ({"consents": {"terms": "yes"}}, "consents.terms"),
    ({"consents": {"terms": True, "Bad-Purpose": True}}, "consents"),
    ({"consents": {"terms": True} | {f"p{i}": True for i in range(20)}}, "consents"),
    ({"consents": []}, "consents"),
    ({"guardian_email": "guardian@example.ng"}, "guardian_email"),
    ({"date_of_birth": years_ago(15)}, "guardian_email"),
    ({"date_of_birth": years_ago(15), "guardian_email": "nope"}, "guardian_email"),
    (
        {"date_of_birth": years_ago(15), "guardian_email": "SAME@example.ng"},
        "guardian_email",
    ),
    ({"nickname": "x"}, "nickname"),
]


async def test_invalid_fields_are_422_naming_the_field(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    for case, field in INVALID:
        overrides = dict(case)
        before = await audit_count(conn)
        response = await api.register(overrides.pop("email", "same@example.ng"), **overrides)
        assert response.status_code == 422, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_field"
        assert error["field"] == field, (case, error)
        assert await audit_count(conn) == before + 1
    assert await conn.fetchval("SELECT count(*) FROM students") == 0
    assert await conn.fetchval("SELECT count(*) FROM consents") == 0
    assert await conn.fetchval("SELECT count(*) FROM credentials") == 0


async def test_missing_fields_are_named(api: LiveApi) -> None:
    response = await api.client.post("/v1/auth/register", json={"email": "x@example.ng"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] in {"date_of_birth", "password", "full_name"}


async def test_malformed_json_and_wrong_content_type(
    api: LiveApi, conn: asyncpg.Connection
) -> None:
    before = await audit_count(conn)
    malformed = await api.client.post(
        "/v1/auth/register", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    form = await api.client.post("/v1/auth/register", data={"email": "x@example.ng"})
    assert form.status_code == 415
    assert form.json()["error"]["code"] == "unsupported_media_type"
    assert await audit_count(conn) == before + 2
    assert await conn.fetchval("SELECT count(*) FROM students") == 0


async def test_one_audit_event_per_registration(api: LiveApi, conn: asyncpg.Connection) -> None:
    before = await audit_count(conn)
    assert (await api.register("one@example.ng")).status_code == 201
    assert await audit_count(conn) == before + 1
    assert (await api.register("one@example.ng")).status_code == 409
    assert await audit_count(conn) == before + 2
    outcomes = await conn.fetch(
        "SELECT outcome FROM audit_events WHERE action = 'student.registration' ORDER BY seq"
    )
    assert [r["outcome"] for r in outcomes] == ["success", "failure"]


async def test_register_is_in_the_openapi_document(api: LiveApi) -> None:
    spec = (await api.client.get("/docs/openapi.json")).json()
    for path in ("register", "guardian-consent", "login", "logout"):
        assert f"/v1/auth/{path}" in spec["paths"], path
    register = spec["paths"]["/v1/auth/register"]["post"]
    schema = register["requestBody"]["content"]["application/json"]["schema"]
    assert {"email", "password", "full_name", "date_of_birth", "consents"} <= set(
        schema["properties"]
    )
    assert "security" in spec["paths"]["/v1/auth/logout"]["post"]

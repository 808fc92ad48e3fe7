"""``GET /v1/me/export``: JSON and zip, every category, and no student table left out."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
import zipfile

import asyncpg
from examstutor_testing import LiveApi

from examstutor_api.export import CATEGORIES, EXEMPT_TABLES, EXPORTED_TABLES, FORMAT

Account = dict[str, str]

#: a table holds student data when it is ``students``, has a column that names a student
#: (``student_id``, ``subject_id``), a pseudonym, an email blind index or a ciphertext
#: (``*_enc``: PII by the schema's convention), or references such a table
STUDENT_TABLES_SQL = r"""
WITH RECURSIVE base AS (
    SELECT c.oid, c.relname::text AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
), direct AS (
    SELECT b.oid FROM base b WHERE b.name = 'students'
    UNION
    SELECT b.oid FROM base b JOIN pg_attribute a ON a.attrelid = b.oid
     WHERE a.attnum > 0 AND NOT a.attisdropped
       AND (a.attname IN ('student_id', 'subject_id', 'email_index')
            OR a.attname LIKE '%\_pseudonym' OR a.attname LIKE '%\_enc')
), linked AS (
    SELECT oid FROM direct
    UNION
    SELECT con.conrelid FROM pg_constraint con JOIN linked l ON con.confrelid = l.oid
     WHERE con.contype = 'f'
)
SELECT b.name FROM base b JOIN linked l ON l.oid = b.oid ORDER BY 1
"""


async def _student_tables(db: asyncpg.Connection) -> set[str]:
    return {row["name"] for row in await db.fetch(STUDENT_TABLES_SQL)}


async def test_every_table_holding_student_data_is_exported_or_exempt(
    db: asyncpg.Connection,
) -> None:
    tables = await _student_tables(db)
    covered = set(EXPORTED_TABLES) | set(EXEMPT_TABLES)
    missing = tables - covered
    assert not missing, f"tables with student data neither exported nor exempt: {missing}"
    stale = covered - tables
    assert not stale, f"export.py names tables that hold no student data: {stale}"
    assert not set(EXPORTED_TABLES) & set(EXEMPT_TABLES)
    for table, reason in EXEMPT_TABLES.items():
        assert len(reason) > 20, f"{table} needs a reason to be left out"


async def test_the_coverage_check_sees_a_new_student_table(db: asyncpg.Connection) -> None:
    await db.execute("CREATE TABLE homework (id serial PRIMARY KEY, student_id uuid)")
    await db.execute(
        "CREATE TABLE homework_marks (homework_id int REFERENCES homework (id), mark int)"
    )
    await db.execute("CREATE TABLE notes (id int, author_pseudonym text)")
    found = await _student_tables(db) - set(EXPORTED_TABLES) - set(EXEMPT_TABLES)
    assert found == {"homework", "homework_marks", "notes"}


async def _fill_every_category(api: LiveApi, db: asyncpg.Connection, student: Account) -> None:
    """Give the student a row in every exported table."""
    student_id = uuid.UUID(student["id"])
    headers = api.bearer(student["token"])
    body = "Why is 0.1 + 0.2 != 0.3? 'quoted', \"double\", comma, new\nline, ñ 数学 🧮"
    asked = await api.client.post(
        "/v1/questions", json={"subject": "mathematics", "body": body}, headers=headers
    )
    assert asked.status_code == 201, asked.text
    session_id = await db.fetchval(
        "INSERT INTO practice_sessions (student_id, exam, subject, question_ids, num_questions,"
        " score, completed_at) VALUES ($1, 'waec', 'mathematics',"
        " ARRAY['waec-mathematics-001', 'waec-mathematics-002'], 2, 1, now()) RETURNING id",
        student_id,
    )
    await db.execute(
        "INSERT INTO practice_answers (session_id, question_id, choice, correct) VALUES "
        "($1, 'waec-mathematics-001', 'A', true), ($1, 'waec-mathematics-002', 'C', false)",
        session_id,
    )
    await db.execute(
        "INSERT INTO guardian_consent_tokens (token_hash, student_id, guardian_pseudonym, "
        "consents, expires_at) VALUES ($1, $2, 'grd_x', '{\"marketing\": true}', "
        "now() + interval '7 days')",
        hashlib.sha256(student["id"].encode()).digest(),
        student_id,
    )
    await db.execute(
        "INSERT INTO security_events (kind, actor_pseudonym, ip_prefix) VALUES "
        "('login_throttled', $1, '10.0.0.0/24')",
        api.app.ctx.pseudonyms.pseudonym("student", student["id"]),
    )
    await db.execute(
        "INSERT INTO login_attempts (email_index, ip_prefix) VALUES ($1, '10.0.0.0/24')",
        api.app.ctx.index.email(student["email"]),
    )
    assert (await api.client.get("/v1/me", headers=headers)).status_code == 200


async def test_json_export_holds_every_category(
    api: LiveApi,
    db: asyncpg.Connection,
    student_a: Account,
    student_b: Account,
) -> None:
    await _fill_every_category(api, db, student_a)
    await _fill_every_category(api, db, student_b)
    response = await api.client.get("/v1/me/export", headers=api.bearer(student_a["token"]))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment;")
    document = response.json()
    assert document["format"] == FORMAT
    assert document["student_id"] == student_a["id"]
    categories = document["categories"]
    assert set(categories) == {c.name for c in CATEGORIES}
    for category in CATEGORIES:
        rows = categories[category.name]
        assert rows, f"{category.name} is empty"
        for row in rows:
            assert list(row) == list(category.columns), category.name
    assert categories["profile"][0]["email"] == "ada.a@example.ng"
    assert categories["questions"][0]["body"].endswith("🧮")
    assert categories["practice_sessions"][0]["question_ids"] == [
        "waec-mathematics-001",
        "waec-mathematics-002",
    ]
    assert len(categories["practice_answers"]) == 2
    assert categories["guardian_consent"][0]["consents"] == {"marketing": True}
    assert [r["type"] for r in categories["requests"]] == ["access"]
    assert all(r["by_you"] for r in categories["access_log"])

    text = response.text
    # nothing of student B's, and no secrets of A's
    for forbidden in ("bayo", "Bayo", student_b["id"], "$argon2", "password_hash", "token_hash"):
        assert forbidden not in text, forbidden


async def test_zip_export_is_one_csv_per_category(
    api: LiveApi,
    db: asyncpg.Connection,
    student_a: Account,
) -> None:
    await _fill_every_category(api, db, student_a)
    response = await api.client.get(
        "/v1/me/export", params={"format": "zip"}, headers=api.bearer(student_a["token"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.zip"')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert names == {f"{c.name}.csv" for c in CATEGORIES} | {"manifest.json", "README.txt"}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == FORMAT
    assert manifest["student_id"] == student_a["id"]
    listed = {item["name"]: item for item in manifest["categories"]}
    assert set(listed) == {c.name for c in CATEGORIES}
    for category in CATEGORIES:
        data = archive.read(f"{category.name}.csv")
        assert hashlib.sha256(data).hexdigest() == listed[category.name]["sha256"]
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        assert rows[0] == list(category.columns), category.name
        assert len(rows) - 1 == listed[category.name]["rows"] >= 1, category.name
    questions = list(csv.DictReader(io.StringIO(archive.read("questions.csv").decode("utf-8"))))
    assert questions[0]["body"] == (
        "Why is 0.1 + 0.2 != 0.3? 'quoted', \"double\", comma, new\nline, ñ 数学 🧮"
    )
    profile = next(csv.DictReader(io.StringIO(archive.read("profile.csv").decode("utf-8"))))
    assert profile["full_name"] == "Ada Obi"
    assert profile["guardian_email"] == ""
    requests = list(csv.DictReader(io.StringIO(archive.read("requests.csv").decode("utf-8"))))
    assert [r["type"] for r in requests] == ["export"]
    readme = archive.read("README.txt").decode("utf-8")
    assert "questions.csv" in readme


async def test_format_other_than_json_or_zip_is_422(api: LiveApi, student_a: Account) -> None:
    headers = api.bearer(student_a["token"])
    for query in ("format=xml", "format=ZIP", "format=json&format=zip"):
        response = await api.client.get(f"/v1/me/export?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json()["error"]["field"] == "format"

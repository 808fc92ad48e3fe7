"""After an erasure the student cannot log in, and no table holds their plaintext or a
ciphertext that decrypts for them: every text, bytea and jsonb column of every table
is scanned. Another student's data is untouched."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable

import asyncpg
import pytest
from retention_seed import (
    Subject,
    audit_events,
    certificates,
    cipher_for,
    digest_of,
    retention_settings,
    seed_subject,
)

from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    BlindIndex,
    DataKeyStore,
    FieldCipher,
)
from examstutor_platform.db import connect
from examstutor_platform.erasure import erase_subject
from examstutor_platform.errors import CryptoError
from examstutor_platform.settings import b64url_decode

SETTINGS = retention_settings()
SCANNED_TYPES = ("text", "character varying", "bytea", "jsonb", "json", "ARRAY")


@pytest.fixture
async def pipelines(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(database_url)
    await connection.execute("SET ROLE examstutor_pipelines")
    try:
        yield connection
    finally:
        await connection.close()


async def _values(conn: asyncpg.Connection) -> list[tuple[str, str, object]]:
    """(table, column, value) of every non-null text, bytea, jsonb or array value of every
    table (partitions included) in the public schema."""
    columns = await conn.fetch(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type = ANY ($1::text[]) ORDER BY 1, 2",
        list(SCANNED_TYPES),
    )
    assert len(columns) > 40
    found: list[tuple[str, str, object]] = []
    for table, column in columns:
        rows = await conn.fetch(
            f'SELECT "{column}"::text AS text, "{column}" AS value FROM "{table}"'
            f' WHERE "{column}" IS NOT NULL'
        )
        for row in rows:
            value = row["value"]
            found.append((table, column, value if isinstance(value, bytes) else row["text"]))
    return found


def _plaintext_hits(values: list[tuple[str, str, object]], needles: Iterable[str]) -> list[str]:
    hits = []
    for needle in needles:
        low = needle.lower()
        for table, column, value in values:
            if isinstance(value, bytes):
                if low.encode() in value.lower():
                    hits.append(f"{table}.{column} holds {needle!r} (bytes)")
            elif low in str(value).lower():
                hits.append(f"{table}.{column} holds {needle!r}")
    return hits


def _ciphertexts(values: list[tuple[str, str, object]]) -> list[bytes]:
    """Every value that parses as a field ciphertext: bytea values, and base64url strings
    anywhere inside jsonb values."""
    found: list[bytes] = []

    def walk(item: object) -> None:
        if isinstance(item, dict):
            for inner in item.values():
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)
        elif isinstance(item, str) and len(item) >= 44:
            with contextlib.suppress(ValueError):
                found.append(b64url_decode(item))

    for _, _, value in values:
        if isinstance(value, bytes):
            found.append(value)
        elif isinstance(value, str) and value[:1] in "{[":
            try:
                walk(json.loads(value))
            except ValueError:
                continue
    parsed = []
    for value in found:
        try:
            FieldCipher.key_version(value)
        except CryptoError:
            continue
        parsed.append(value)
    return parsed


def _decryptable(cipher: FieldCipher, ciphertexts: list[bytes], row_ids: Iterable[str]) -> int:
    """How many ciphertexts decrypt under any field binding of the given row ids."""
    bindings = [(t.name, column) for t in ENCRYPTED_TABLES for column in t.aad_columns]
    count = 0
    for value in ciphertexts:
        for (table, column), row_id in ((b, r) for b in bindings for r in row_ids):
            try:
                cipher.decrypt(value, table=table, column=column, row_id=row_id)
            except CryptoError:
                continue
            count += 1
            break
    return count


def _needles(subject: Subject) -> list[str]:
    s = subject.student
    return [s.email, s.full_name, s.phone, s.guardian_email, s.phone.removeprefix("+")]


async def _can_log_in(conn: asyncpg.Connection, email: str) -> bool:
    row = await conn.fetchrow(
        "SELECT s.id FROM students s JOIN credentials c ON c.student_id = s.id"
        " WHERE s.email_index = $1",
        BlindIndex(SETTINGS.index_key).email(email),
    )
    return row is not None


async def test_nothing_of_the_erased_student_remains(
    conn: asyncpg.Connection, pipelines: asyncpg.Connection
) -> None:
    cipher = await cipher_for(conn, SETTINGS)
    target = await seed_subject(conn, SETTINGS, cipher, "Chiamaka Obi")
    other = await seed_subject(conn, SETTINGS, cipher, "Tunde Bakare", request=False)
    await conn.execute(
        "INSERT INTO cache_entries (key, value) VALUES ('marker', '{\"note\": \"Scan-Marker\"}')"
    )
    before = _ciphertexts(await _values(conn))
    assert _decryptable(cipher, before, target.row_ids) == 9
    assert await _can_log_in(conn, target.student.email)

    result = await erase_subject(pipelines, SETTINGS, target.request_id, run_id="erase-1")

    assert result.status == "completed" and not result.already_done
    assert dict(result.counts) == {
        "login_attempts": 2,
        "credentials": 1,
        "auth_sessions": 3,
        "guardian_consent_tokens": 1,
        "outbox": 1,
        "temp_files": 1,
        "questions": 2,
        "practice_sessions": 2,
        "students": 1,
    }
    assert not await _can_log_in(conn, target.student.email)
    values = await _values(conn)
    assert _plaintext_hits(values, _needles(target)) == []
    assert _plaintext_hits(values, ["scan-marker"]) == ["cache_entries.value holds 'scan-marker'"]
    # the whole key ring, active keys included, cannot open anything bound to them
    ring = FieldCipher(await DataKeyStore().load(conn, SETTINGS.keks))
    after = _ciphertexts(values)
    assert _decryptable(ring, after, target.row_ids) == 0
    assert _decryptable(ring, after, other.row_ids) == 9, "the other student is intact"
    assert await _can_log_in(conn, other.student.email)

    student = await conn.fetchrow("SELECT * FROM students WHERE id = $1", target.student.id)
    assert student is not None and student["status"] == "erased" and student["erased_at"]
    request = await conn.fetchrow("SELECT * FROM dsr_requests WHERE id = $1", target.request_id)
    assert request is not None and request["status"] == "completed" and request["completed_at"]
    assert request["certificate_id"] == result.certificate_id
    [certificate] = await certificates(conn, "erasure")
    assert certificate["kind"] == "erasure" and certificate["cutoff"] is None
    assert certificate["run_id"] == "erase-1" and certificate["counts"] == dict(result.counts)
    assert certificate["subjects_sha256"] == digest_of([target.pseudonym]) == result.subjects_sha256
    [event] = await audit_events(conn, "ndpr.erasure_completed")
    assert event["resource_id"] == target.pseudonym and event["outcome"] == "success"
    assert event["details"]["certificate_id"] == str(result.certificate_id)
    # kept on purpose: the consent ledger (by id), the request, pseudonymous events
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM consents WHERE student_id = $1", target.student.id
        )
        == 2
    )
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM audit_events WHERE actor_pseudonym = $1", target.pseudonym
        )
        == 1
    )
    answers = await conn.fetchval("SELECT count(*) FROM practice_answers")
    assert answers == 8
    metadata = result.metadata()
    assert _plaintext_hits([("m", "m", json.dumps(metadata))], _needles(target)) == []
    assert uuid.UUID(metadata["certificate_id"]) == result.certificate_id

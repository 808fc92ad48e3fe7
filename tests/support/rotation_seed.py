"""Key-rotation test data: every encrypted table filled through FieldCipher, and a check
that every ciphertext still holds its plaintext (importable: ``tests/support`` is on
pytest's path)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from examstutor_platform.crypto import (
    ENCRYPTED_TABLES,
    DataKeyStore,
    FieldCipher,
    encrypted_table,
)
from examstutor_platform.db.pool import DbConnection
from examstutor_platform.settings import Settings, b64url_decode, b64url_encode

__all__ = [
    "SETTINGS_ENV",
    "Seeded",
    "assert_all_decrypt",
    "rotation_settings",
    "seed_encrypted_tables",
]

SETTINGS_ENV: Mapping[str, str] = {
    "EXAMSTUTOR_KEKS": "rot-kek-1:" + b64url_encode(bytes(range(40, 72))),
    "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(1, 33))),
    "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(2, 34))),
    "EXAMSTUTOR_SIGNING_KEY": b64url_encode(bytes(range(3, 35))),
    "EXAMSTUTOR_JWT_SECRET": "rotation-test-jwt-secret-" + "x" * 32,
    "EXAMSTUTOR_HOME": "/nonexistent/examstutor-rotation-tests",
}
NEW_KEK = "rot-kek-2:" + b64url_encode(bytes(range(80, 112)))


def rotation_settings(keks: str | None = None) -> Settings:
    """Deterministic settings; ``keks`` replaces ``EXAMSTUTOR_KEKS`` when given."""
    env = dict(SETTINGS_ENV)
    if keks is not None:
        env["EXAMSTUTOR_KEKS"] = keks
    return Settings.from_env(env)


@dataclass
class Seeded:
    """What was written: plaintext by (table, AAD column, row id), and rows per table."""

    plaintexts: dict[tuple[str, str, str], str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


async def _cipher(conn: DbConnection, settings: Settings) -> FieldCipher:
    await DataKeyStore().ensure_primary(conn, settings.keks)
    return FieldCipher(await DataKeyStore().load(conn, settings.keks))


def _seal(
    cipher: FieldCipher, seeded: Seeded, table: str, column: str, row_id: str, text: str | None
) -> bytes | None:
    if text is None:
        return None
    seeded.plaintexts[(table, column, row_id)] = text
    return cipher.encrypt(text, table=table, column=column, row_id=row_id)


async def seed_encrypted_tables(
    conn: DbConnection,
    settings: Settings,
    *,
    students: int = 120,
    staff: int = 4,
    questions: int = 40,
    outbox: int = 12,
    seeded: Seeded | None = None,
) -> Seeded:
    """Rows in every encrypted table under the current primary key (created if none),
    with NULL fields, erased students and anonymised questions among them."""
    seeded = seeded or Seeded()
    cipher = await _cipher(conn, settings)
    version = cipher.primary_version
    student_rows: list[tuple[object, ...]] = []
    student_ids = []
    for i in range(students):
        sid = uuid.uuid4()
        rid = str(sid)
        if i % 17 == 5:  # erased: nothing encrypted, no key
            student_rows.append((sid, None, None, None, None, None, None, None, "erased"))
            continue
        student_ids.append(sid)
        values = {
            "email_enc": f"student{i}-{rid[:8]}@example.ng",
            "full_name_enc": f"Adaeze Okonkwo {i}",
            "phone_enc": None if i % 3 == 0 else f"+23480{i:08d}",
            "date_of_birth_enc": f"2006-0{1 + i % 9}-1{i % 10}",
            "guardian_email_enc": None if i % 2 else f"guardian{i}@example.ng",
        }
        sealed = [_seal(cipher, seeded, "students", c, rid, v) for c, v in values.items()]
        student_rows.append((sid, uuid.uuid4().bytes * 2, *sealed, version, "active"))
    await conn.copy_records_to_table(
        "students",
        records=student_rows,
        columns=[
            "id",
            "email_index",
            *encrypted_table("students").columns,
            "key_version",
            "status",
        ],
    )
    staff_rows: list[tuple[object, ...]] = []
    for i in range(staff):
        sid = uuid.uuid4()
        email = _seal(cipher, seeded, "staff", "email_enc", str(sid), f"steward{i}@examstutor.ng")
        staff_rows.append((sid, uuid.uuid4().bytes * 2, email, version, "steward", "x"))
    await conn.copy_records_to_table(
        "staff",
        records=staff_rows,
        columns=["id", "email_index", "email_enc", "key_version", "role", "password_hash"],
    )
    question_rows: list[tuple[object, ...]] = []
    for i in range(questions):
        qid = uuid.uuid4()
        owner = student_ids[i % len(student_ids)] if student_ids else None
        if i % 7 == 3:  # anonymised: body gone, key label kept
            question_rows.append((qid, owner, "maths", None, version, "anonymised"))
            continue
        body = _seal(cipher, seeded, "questions", "body_enc", str(qid), f"How do I solve x^{i}?")
        question_rows.append((qid, owner, "maths", body, version, "open"))
    await conn.copy_records_to_table(
        "questions",
        records=question_rows,
        columns=["id", "student_id", "subject", "body_enc", "key_version", "status"],
    )
    for i in range(outbox):
        oid = uuid.uuid4()
        rid = str(oid)
        recipient = _seal(cipher, seeded, "outbox", "recipient_enc", rid, f"parent{i}@mail.ng")
        payload: dict[str, object] = {"template": "guardian_consent", "n": i}
        if i % 2 == 0:
            token = _seal(cipher, seeded, "outbox", "payload_token", rid, f"tok-{i}-{rid}")
            assert token is not None
            payload["token_enc"] = b64url_encode(token)
        await conn.execute(
            "INSERT INTO outbox (id, kind, recipient_enc, key_version, payload) "
            "VALUES ($1, 'guardian_consent', $2, $3, $4)",
            oid,
            recipient,
            version,
            payload,
        )
    for table in ENCRYPTED_TABLES:
        seeded.counts[table.name] = await conn.fetchval(f"SELECT count(*) FROM {table.name}")
    return seeded


async def assert_all_decrypt(
    conn: DbConnection, settings: Settings, seeded: Seeded, *, version: int
) -> None:
    """Every ciphertext is under ``version``, labelled so, and decrypts to what was written;
    NULL fields stayed NULL and no row appeared or vanished."""
    cipher = FieldCipher(await DataKeyStore().load(conn, settings.keks))
    seen = 0
    for table in ENCRYPTED_TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table.name}")
        assert len(rows) == seeded.counts[table.name], table.name
        for row in rows:
            rid = str(row[table.id_column])
            fields: dict[str, bytes | None] = {c: row[c] for c in table.columns}
            for embedded in table.embedded:
                payload = row[embedded.column]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                text = payload.get(embedded.key)
                fields[embedded.aad_column] = None if text is None else b64url_decode(text)
            held = [v for v in fields.values() if v is not None]
            if held:
                assert row["key_version"] == version, (table.name, rid)
            for column, sealed in fields.items():
                expected = seeded.plaintexts.get((table.name, column, rid))
                if expected is None:
                    assert sealed is None, (table.name, column, rid)
                    continue
                assert sealed is not None, (table.name, column, rid)
                assert FieldCipher.key_version(sealed) == version, (table.name, column, rid)
                plain = cipher.decrypt_text(sealed, table=table.name, column=column, row_id=rid)
                assert plain == expected, (table.name, column, rid)
                seen += 1
    assert seen == len(seeded.plaintexts)

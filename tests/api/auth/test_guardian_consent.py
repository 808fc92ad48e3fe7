"""Minors: pending until a guardian confirms; hashed tokens, the outbox, the ledger."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import examstutor_testing
import pytest
from examstutor_testing import LiveApi

from examstutor_platform.crypto import DataKeyStore, FieldCipher, normalise_email
from examstutor_platform.settings import b64url_decode

GUARDIAN = "Guardian.Parent@Example.ng"
_LINK = re.compile(
    r'guardian consent link for (\S+): POST /v1/auth/guardian-consent \{"token": "([^"]+)"\}'
)


async def one(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The single row ``query`` returns (it must return one)."""
    row: asyncpg.Record | None = await conn.fetchrow(query, *args)
    assert row is not None, query
    return row


def fifteen_years_ago() -> str:
    today = datetime.now(UTC).date()
    return date(today.year - 15, today.month, min(today.day, 28)).isoformat()


async def register_minor(api: LiveApi, email: str = "kid@example.ng") -> str:
    response = await api.register(
        email,
        date_of_birth=fifteen_years_ago(),
        guardian_email=GUARDIAN,
        consents={"terms": True, "progress_emails": True, "marketing": False},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending_guardian_consent"
    student_id: str = response.json()["student_id"]
    return student_id


async def token_from_outbox(conn: asyncpg.Connection, home: Path) -> tuple[str, str]:
    """(recipient, token) decrypted from the only outbox row with the test key ring."""
    ring = await DataKeyStore().load(conn, examstutor_testing.test_settings(home).keks)
    cipher = FieldCipher(ring)
    row = await one(conn, "SELECT * FROM outbox")
    assert row is not None
    outbox_id = str(row["id"])
    recipient = cipher.decrypt_text(
        row["recipient_enc"], table="outbox", column="recipient_enc", row_id=outbox_id
    )
    sealed = b64url_decode(row["payload"]["token_enc"])
    token = cipher.decrypt_text(sealed, table="outbox", column="payload_token", row_id=outbox_id)
    return recipient, token


async def test_minor_is_pending_and_the_guardian_confirms(
    api: LiveApi, conn: asyncpg.Connection, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="examstutor_api.guardian")
    student_id = await register_minor(api)

    # the dev log carries the link, with the guardian's email masked
    lines = [r.getMessage() for r in caplog.records if r.name == "examstutor_api.guardian"]
    assert len(lines) == 1
    found = _LINK.search(lines[0])
    assert found is not None, lines[0]
    masked, logged_token = found.groups()
    assert GUARDIAN not in lines[0] and "*" in masked

    # the token is stored hashed; the outbox holds it encrypted, beside the recipient
    recipient, outbox_token = await token_from_outbox(conn, tmp_path)
    assert recipient == GUARDIAN and outbox_token == logged_token
    stored = await one(conn, "SELECT * FROM guardian_consent_tokens")
    assert bytes(stored["token_hash"]) == hashlib.sha256(logged_token.encode()).digest()
    assert stored["used_at"] is None
    lifetime = stored["expires_at"] - stored["created_at"]
    assert lifetime.days == 7
    assert stored["consents"] == {"terms": True, "progress_emails": True, "marketing": False}
    table_text = str(dict(stored)) + str(dict(await one(conn, "SELECT * FROM outbox")))
    assert logged_token not in table_text and GUARDIAN.lower() not in table_text.lower()
    assert await conn.fetchval("SELECT count(*) FROM consents") == 0

    # pending students can sign in (what they may reach is require()'s business)
    token = await api.login("kid@example.ng")
    assert token

    before = await conn.fetchval("SELECT count(*) FROM audit_events")
    confirmed = await api.client.post("/v1/auth/guardian-consent", json={"token": logged_token})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"student_id": student_id, "status": "active"}
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == before + 1

    assert (
        await conn.fetchval("SELECT status FROM students WHERE id = $1", uuid.UUID(student_id))
        == "active"
    )
    assert await conn.fetchval("SELECT used_at IS NOT NULL FROM guardian_consent_tokens")
    guardian_pseudonym = api.app.ctx.pseudonyms.pseudonym("guardian", normalise_email(GUARDIAN))
    ledger = await conn.fetch(
        "SELECT purpose, granted, given_by, guardian_pseudonym FROM consents ORDER BY purpose"
    )
    assert [tuple(r) for r in ledger] == [
        ("marketing", False, "guardian", guardian_pseudonym),
        ("progress_emails", True, "guardian", guardian_pseudonym),
        ("terms", True, "guardian", guardian_pseudonym),
    ]
    event = await one(conn, "SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1")
    assert event["action"] == "ndpr.consent"
    assert event["outcome"] == "success"
    assert event["actor_pseudonym"] == guardian_pseudonym
    assert event["actor_role"] == "guardian"
    assert event["resource"] == "consent"
    assert event["resource_id"] == api.app.ctx.pseudonyms.pseudonym("student", student_id)

    # a used token is unknown from now on
    again = await api.client.post("/v1/auth/guardian-consent", json={"token": logged_token})
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "consent_token_not_found"
    assert await conn.fetchval("SELECT count(*) FROM consents") == 3


async def test_an_expired_token_is_409_and_changes_nothing(
    api: LiveApi, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    student_id = await register_minor(api)
    _, token = await token_from_outbox(conn, tmp_path)
    await conn.execute(
        "UPDATE guardian_consent_tokens SET expires_at = now() - interval '1 second'"
    )
    response = await api.client.post("/v1/auth/guardian-consent", json={"token": token})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "consent_token_expired"
    assert (
        await conn.fetchval("SELECT status FROM students WHERE id = $1", uuid.UUID(student_id))
        == "pending_guardian_consent"
    )
    assert await conn.fetchval("SELECT used_at FROM guardian_consent_tokens") is None
    assert await conn.fetchval("SELECT count(*) FROM consents") == 0
    event = await one(conn, "SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1")
    assert (event["action"], event["outcome"]) == ("ndpr.consent", "failure")


async def test_unknown_and_malformed_tokens(api: LiveApi, conn: asyncpg.Connection) -> None:
    unknown = await api.client.post("/v1/auth/guardian-consent", json={"token": "x" * 43})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "consent_token_not_found"
    for body, field in (({"token": ""}, "token"), ({"token": 7}, "token"), ({}, "token")):
        response = await api.client.post("/v1/auth/guardian-consent", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field
    extra = await api.client.post(
        "/v1/auth/guardian-consent", json={"token": "abc", "student_id": "x"}
    )
    assert extra.status_code == 422
    assert extra.json()["error"]["field"] == "student_id"
    assert await conn.fetchval("SELECT count(*) FROM audit_events") == 5


async def test_no_link_is_logged_outside_dev(
    api_factory: Callable[..., Any], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="examstutor_api.guardian")
    settings = examstutor_testing.test_settings(tmp_path / "staging")
    staging = dataclasses.replace(settings, env="staging")
    async with api_factory(SETTINGS=staging) as live:
        await register_minor(live)
    assert not [r for r in caplog.records if r.name == "examstutor_api.guardian"]

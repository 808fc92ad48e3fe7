"""``/v1/audit``: exported days, streaming with ETag, the public key, events by seq."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from examstutor_accounts import Accounts, audit_events
from examstutor_testing import LiveApi

from examstutor_platform.audit.signing import Signer, load_public_key

DAY = "2026-01-15"


def rid() -> dict[str, str]:
    return {"X-Request-ID": uuid.uuid4().hex}


async def test_lists_days_with_a_manifest(
    api: LiveApi, accounts: Accounts, export_day: Path
) -> None:
    auditor = await accounts.staff("auditor")
    headers = {**auditor.headers, **rid()}
    response = await api.client.get("/v1/audit/exports", headers=headers)
    assert response.status_code == 200, response.text
    (day,) = response.json()["days"]  # 2026-01-16 has no manifest yet: not listed
    events = (export_day / "events-0000.parquet").read_bytes()
    manifest = (export_day / "manifest.json").read_bytes()
    assert day["date"] == DAY
    assert (day["rows"], day["first_seq"], day["last_seq"]) == (1200, 5001, 6200)
    assert day["files"] == [
        {
            "name": "events-0000.parquet",
            "sha256": hashlib.sha256(events).hexdigest(),
            "rows": 1200,
            "bytes": len(events),
        }
    ]
    assert day["manifest"]["sha256"] == hashlib.sha256(manifest).hexdigest()
    assert day["manifest"]["bytes"] == len(manifest)
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"], event["outcome"]) == (
        "data.read",
        "audit_export",
        "success",
    )
    assert (event["actor_pseudonym"], event["actor_role"]) == (auditor.pseudonym, "auditor")


async def test_no_exports_yet_is_an_empty_list(api: LiveApi, accounts: Accounts) -> None:
    auditor = await accounts.staff("auditor")
    response = await api.client.get("/v1/audit/exports", headers=auditor.headers)
    assert response.json() == {"days": []}


async def test_streams_files_with_sha256_etag_and_304(
    api: LiveApi, accounts: Accounts, export_day: Path
) -> None:
    auditor = await accounts.staff("auditor")
    for name in ("events-0000.parquet", "manifest.json"):
        content = (export_day / name).read_bytes()
        etag = f'"{hashlib.sha256(content).hexdigest()}"'
        headers = {**auditor.headers, **rid()}
        response = await api.client.get(f"/v1/audit/exports/{DAY}/{name}", headers=headers)
        assert response.status_code == 200
        assert response.content == content
        assert response.headers["etag"] == etag
        (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
        assert event["resource_id"] == f"{DAY}/{name}"
        headers = {**auditor.headers, **rid(), "If-None-Match": f'"0000", {etag}'}
        cached = await api.client.get(f"/v1/audit/exports/{DAY}/{name}", headers=headers)
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
        assert event["outcome"] == "success"
        assert event["details"]["not_modified"] is True
        stale = await api.client.get(
            f"/v1/audit/exports/{DAY}/{name}",
            headers={**auditor.headers, "If-None-Match": '"' + "0" * 64 + '"'},
        )
        assert stale.status_code == 200
    parquet = await api.client.get(
        f"/v1/audit/exports/{DAY}/events-0000.parquet", headers=auditor.headers
    )
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    manifest = await api.client.get(
        f"/v1/audit/exports/{DAY}/manifest.json", headers=auditor.headers
    )
    assert json.loads(manifest.content)["date"] == DAY


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fsecrets.env/manifest.json",
        f"{DAY}/..%2Fmanifest.json",
        f"{DAY}/..%2F..%2F..%2Fsecrets.env",
        f"{DAY}/%2Fetc%2Fpasswd",
        f"%2Ftmp/{DAY}",
        f"{DAY}/%2e%2e",
        f"{DAY}/events-0001.parquet",
        f"{DAY}/events-0000.parquet%00",
        f"{DAY}/secrets.env",
        f"{DAY}/events-0000.PARQUET",
        "2026-02-30/manifest.json",
        "2026-1-15/manifest.json",
        "2026-01-16/manifest.json",
        "2026-01-16/events-0000.parquet",
        "2026-01-17/manifest.json",
    ],
)
async def test_anything_else_is_404(
    api: LiveApi, accounts: Accounts, export_day: Path, path: str
) -> None:
    auditor = await accounts.staff("auditor")
    (export_day / "events-0001.parquet").write_bytes(b"on disk but not in the manifest")
    (export_day.parent.parent / "secrets.env").write_text("EXAMSTUTOR_KEKS=not-this")
    response = await api.client.get(f"/v1/audit/exports/{path}", headers=auditor.headers)
    assert response.status_code == 404, response.text
    assert "not-this" not in response.text


async def test_a_listed_file_that_escapes_the_export_folder_is_404(
    api: LiveApi, accounts: Accounts, export_day: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(b"not an export")
    (export_day / "events-0002.parquet").symlink_to(outside)
    manifest = json.loads((export_day / "manifest.json").read_text())
    manifest["files"].append(
        {"name": "events-0002.parquet", "sha256": hashlib.sha256(b"x").hexdigest()}
    )
    (export_day / "manifest.json").write_text(json.dumps(manifest))
    auditor = await accounts.staff("auditor")
    response = await api.client.get(
        f"/v1/audit/exports/{DAY}/events-0002.parquet", headers=auditor.headers
    )
    assert response.status_code == 404


async def test_public_key_is_the_signing_keys_pem(api: LiveApi, accounts: Accounts) -> None:
    auditor = await accounts.staff("auditor")
    response = await api.client.get("/v1/audit/public-key", headers=auditor.headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-pem-file")
    signer = Signer(api.app.ctx.settings.signing_key)
    assert response.text == signer.public_pem()
    assert response.headers["x-key-id"] == signer.key_id
    assert load_public_key(response.text).public_bytes_raw() == signer.public_key_bytes


async def _seed_events(api: LiveApi, count: int) -> tuple[list[int], datetime]:
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.executemany(
            "INSERT INTO audit_events (actor_pseudonym, actor_role, action, resource,"
            " resource_id, outcome, request_id) VALUES ($1, 'student', 'data.read', 'student',"
            " $1, 'success', $2)",
            [(f"stu_{n:032x}", f"seed-{n}") for n in range(count)],
        )
        rows = await conn.fetch("SELECT seq FROM audit_events ORDER BY seq")
        moment: datetime = await conn.fetchval("SELECT clock_timestamp()")
    finally:
        await conn.close()
    return [r["seq"] for r in rows], moment


async def test_events_are_paged_by_seq(api: LiveApi, accounts: Accounts) -> None:
    auditor = await accounts.staff("auditor")
    seqs, until = await _seed_events(api, 10)
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        headers = {**auditor.headers, **rid()}
        response = await api.client.get(
            "/v1/audit/events",
            params={"after_seq": after, "limit": 4, "to": until.isoformat()},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        seen += [event["seq"] for event in body["events"]]
        (own,) = await audit_events(api.database_url, headers["X-Request-ID"])
        assert (own["action"], own["resource"]) == ("data.read", "audit_event")
        after = body["next_after_seq"]
        if not body["has_more"]:
            break
    assert pages == 3
    assert seen == seqs
    assert after == seqs[-1]
    first = (
        await api.client.get("/v1/audit/events", params={"limit": 1}, headers=auditor.headers)
    ).json()["events"][0]
    assert first["actor_pseudonym"].startswith("stu_")
    assert first["occurred_at"].endswith("Z")
    assert set(first) == {
        "seq",
        "occurred_at",
        "actor_pseudonym",
        "actor_role",
        "action",
        "resource",
        "resource_id",
        "outcome",
        "severity",
        "ip_prefix",
        "request_id",
        "details",
    }
    # without `to`, the auditor's own reads show up after the seeded events
    tail = await api.client.get(
        "/v1/audit/events", params={"after_seq": seqs[-1]}, headers=auditor.headers
    )
    assert {e["actor_pseudonym"] for e in tail.json()["events"]} == {auditor.pseudonym}


async def test_events_by_business_day(api: LiveApi, accounts: Accounts) -> None:
    auditor = await accounts.staff("auditor")
    seqs, _ = await _seed_events(api, 3)
    today = datetime.now(ZoneInfo("Africa/Lagos")).date()
    same_day = await api.client.get(
        "/v1/audit/events",
        params={"from": today.isoformat(), "to": today.isoformat()},
        headers=auditor.headers,
    )
    assert [e["seq"] for e in same_day.json()["events"]][:3] == seqs
    yesterday = (today - timedelta(days=1)).isoformat()
    before = await api.client.get(
        "/v1/audit/events", params={"to": yesterday}, headers=auditor.headers
    )
    assert before.json() == {"events": [], "next_after_seq": 0, "has_more": False}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after_seq": "-1"}, "after_seq"),
        ({"after_seq": "1e3"}, "after_seq"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"to": "'; DROP TABLE audit_events; --"}, "to"),
    ],
)
async def test_invalid_event_queries_are_422(
    api: LiveApi, accounts: Accounts, params: dict[str, str], field: str
) -> None:
    auditor = await accounts.staff("auditor")
    headers = {**auditor.headers, **rid()}
    response = await api.client.get("/v1/audit/events", params=params, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert event["outcome"] == "failure"


async def test_no_file_byte_leaves_when_the_audit_event_cannot_be_stored(
    api: LiveApi, accounts: Accounts, export_day: Path
) -> None:
    auditor = await accounts.staff("auditor")
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.execute("REVOKE INSERT ON audit_events FROM examstutor_api")
        response = await api.client.get(
            f"/v1/audit/exports/{DAY}/events-0000.parquet", headers=auditor.headers
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "audit_unavailable"
        assert "etag" not in response.headers
        await conn.execute(
            "GRANT INSERT (actor_pseudonym, actor_role, action, resource, resource_id, outcome,"
            " severity, ip_prefix, request_id, details) ON audit_events TO examstutor_api"
        )
    finally:
        await conn.close()
    restored = await api.client.get(
        f"/v1/audit/exports/{DAY}/events-0000.parquet", headers=auditor.headers
    )
    assert restored.status_code == 200
    assert restored.content == (export_day / "events-0000.parquet").read_bytes()

"""Bad bodies on every route that takes one: 400, 415, 413, 422 naming the field; nothing
written, one audit event per request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from examstutor_testing import LiveApi

Account = dict[str, str]

_PASSWORDS: dict[str, object] = {
    "current_password": "correct horse battery",
    "new_password": "x" * 12,
}
#: (method, path, a valid body, one of its fields, a value of the wrong type for it)
BODY_ROUTES: tuple[tuple[str, str, dict[str, object], str, object], ...] = (
    ("PATCH", "/v1/me", {"full_name": "Ada"}, "full_name", ["Ada"]),
    ("POST", "/v1/me/password", _PASSWORDS, "new_password", 12345678901),
    ("PUT", "/v1/me/consents/newsletter", {"granted": True}, "granted", "true"),
    ("POST", "/v1/questions", {"subject": "physics", "body": "?"}, "body", {"text": "why?"}),
)


async def test_malformed_bodies_are_refused_precisely(
    api: LiveApi,
    db: asyncpg.Connection,
    student_a: Account,
    audit_count: Callable[[], Awaitable[int]],
) -> None:
    headers = api.bearer(student_a["token"])
    json_headers = {**headers, "Content-Type": "application/json"}
    failures: list[tuple[object, ...]] = []
    for method, path, valid, field, wrong in BODY_ROUTES:
        cases: list[tuple[str, dict[str, str], bytes | None, int, str | None]] = [
            ("malformed", json_headers, b'{"full_name": "Ada",', 400, None),
            ("not an object", json_headers, b'["Ada"]', 400, None),
            ("NaN", json_headers, b'{"x": NaN}', 400, None),
            ("not utf-8", json_headers, b'{"x": "\xff"}', 400, None),
            ("form", {**headers, "Content-Type": "text/plain"}, b"full_name=Ada", 415, None),
            ("no type", headers, b"{}", 415, None),
            (
                "unknown field",
                json_headers,
                json.dumps({**valid, "surprise": 1}).encode(),
                422,
                "surprise",
            ),
            (
                "wrong type",
                json_headers,
                json.dumps({**valid, field: wrong}).encode(),
                422,
                field,
            ),
        ]
        for name, case_headers, content, status, bad_field in cases:
            before = await audit_count()
            response = await api.client.request(method, path, content=content, headers=case_headers)
            if response.status_code != status:
                failures.append((path, name, response.status_code, response.text))
                continue
            error = response.json()["error"]
            if bad_field is not None and error.get("field") != bad_field:
                failures.append((path, name, error))
            if not error.get("request_id") or response.headers.get("x-request-id") != error.get(
                "request_id"
            ):
                failures.append((path, name, "request id"))
            if await audit_count() - before != 1:
                failures.append((path, name, "audit events"))
    assert not failures, failures
    student_id = uuid.UUID(student_a["id"])
    assert await db.fetchval("SELECT count(*) FROM questions") == 0
    assert await db.fetchval("SELECT count(*) FROM dsr_requests") == 0
    assert await db.fetchval("SELECT count(*) FROM consents WHERE student_id = $1", student_id) == 1
    profile = (await api.client.get("/v1/me", headers=headers)).json()
    assert profile["full_name"] == "Ada Obi"


async def test_a_body_over_the_limit_is_413(api: LiveApi, student_a: Account) -> None:
    limit = api.app.config.REQUEST_MAX_SIZE
    for method, path, _, field, _ in BODY_ROUTES:
        content = f'{{"{field}": "{"x" * limit}"}}'.encode()
        response = await api.client.request(
            method,
            path,
            content=content,
            headers={**api.bearer(student_a["token"]), "Content-Type": "application/json"},
        )
        assert response.status_code == 413, path
        assert response.json()["error"]["code"] == "payload_too_large"

"""Bad input on every route that takes it, answered with the precise 4xx and the JSON
error shape, and the server still serving after each: malformed JSON 400, a wrong
content type 415, a body over the limit 413, unknown and mistyped fields 422 naming
the field, unknown ids 404, forged / expired / revoked tokens 401. SQL-looking and
unicode strings are stored and returned exactly."""

from __future__ import annotations

import gc
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
from examstutor_contract import EXPORT_DAY, ROUTES, Call, Route, World

from examstutor_platform.db import connect

SQLISH = "'); DROP TABLE students;--"
UNICODE = 'Ọ̀kàfọ̀r 👩🏾‍🎓 "quotes"'
LIMIT = 64 * 1024


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"code", "message", "request_id"}, error
    assert error["request_id"] == response.headers["X-Request-ID"]
    if code is not None:
        assert error["code"] == code, error
    return error


async def _still_serving(world: World) -> None:
    live = await world.client.get("/health/live")
    assert live.status_code == 200


async def _send(
    world: World, route: Route, caller: str, call: Call, content: bytes, content_type: str
) -> httpx.Response:
    headers = {**world.headers(caller), "Content-Type": content_type}
    if call.token is not None:
        headers["Authorization"] = f"Bearer {call.token}"
    response = await world.client.request(route.method, call.url, content=content, headers=headers)
    await _still_serving(world)
    return response


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return "not a list"
    return ["not", "an", "object"]


async def _body_routes(world: World) -> list[tuple[Route, Call]]:
    found = []
    for route in ROUTES:
        call = await route.prepare(world, route.principal)
        if call.body is not None:
            found.append((route, call))
    return found


async def test_every_json_body_is_checked_strictly(world: World) -> None:
    routes = await _body_routes(world)
    assert len(routes) >= 11, [route.key for route, _ in routes]
    for route, call in routes:
        caller = route.principal
        where = f"{route.method} {route.pattern}"
        good = json.dumps(call.body).encode()
        name, value = next(iter(call.body.items()))
        twice = json.dumps(value)
        for broken in (
            b'{"email": ',
            b"{'single': 'quotes'}",
            b"\xff\xfe",
            b"[1, 2]",
            b"NaN",
            b"[" * 30_000 + b"]" * 30_000,  # deeper than the decoder recurses
            b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
            f'{{"{name}": {twice}, "{name}": {twice}}}'.encode(),  # which one would count?
        ):
            response = await _send(world, route, caller, call, broken, "application/json")
            assert response.status_code == 400, (where, broken[:40], response.text)
            _error(response, 400, "malformed_json")
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            response = await _send(world, route, caller, call, good, content_type)
            _error(response, 415, "unsupported_media_type")
        padded = json.dumps({**call.body, "padding": "x" * LIMIT}).encode()
        response = await _send(world, route, caller, call, padded, "application/json")
        _error(response, 413, "payload_too_large")
        unknown = json.dumps({**call.body, "zz_unknown": 1}).encode()
        response = await _send(world, route, caller, call, unknown, "application/json")
        assert _error(response, 422, "invalid_field")["field"] == "zz_unknown", where
        for name, value in call.body.items():
            mistyped = json.dumps({**call.body, name: _wrong_type(value)}).encode()
            response = await _send(world, route, caller, call, mistyped, "application/json")
            error = _error(response, 422, "invalid_field")
            assert error["field"] == name, (where, name, error)
            assert name in error["message"]


async def test_query_numbers_are_ascii_digits_of_bounded_length(world: World) -> None:
    """A number int() cannot parse ("²" is a digit to str.isdigit; over 4300 digits
    int() refuses) is a 422 naming the parameter, not a 500."""
    checks = [
        ("/v1/practice/history", "limit", "student_a"),
        ("/v1/questions", "limit", "student_a"),
        ("/v1/questions", "offset", "student_a"),
        ("/v1/audit/events", "limit", "auditor"),
        ("/v1/audit/events", "after_seq", "auditor"),
        ("/v1/dsr-requests", "limit", "steward"),
        ("/v1/dsr-requests", "offset", "steward"),
    ]
    for path, name, caller in checks:
        for value in ("²", "١٢", "9" * 5000, "0" * 5000, "-1", "+1", " 1", "1.0"):
            response = await world.client.get(
                path, params={name: value}, headers=world.headers(caller)
            )
            assert _error(response, 422, "invalid_field")["field"] == name, (path, value)
            await _still_serving(world)
        fine = await world.client.get(path, params={name: "0010"}, headers=world.headers(caller))
        assert fine.status_code == 200, (path, name, fine.text)


async def test_downloads_the_client_abandons_close_their_file(world: World) -> None:
    """A client that hangs up after the headers: the server's stream is cancelled, and
    the exported file must still be closed (a file left open surfaces as a
    ResourceWarning when it is collected, which fails the test: warnings are errors)."""
    url = f"/v1/audit/exports/{EXPORT_DAY}/events-0000.parquet"
    for _ in range(40):
        async with world.client.stream("GET", url, headers=world.headers("auditor")) as answer:
            assert answer.status_code == 200
    await _still_serving(world)
    whole = await world.client.get(url, headers=world.headers("auditor"))
    assert whole.status_code == 200
    assert len(whole.content) == int(whole.headers["content-length"]) > 0
    gc.collect()


async def test_a_chunked_body_over_the_limit_is_413(world: World) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(LIMIT // 4096 + 2):
            yield b"a" * 4096
        yield b'", "password": "x"}'

    response = await world.client.post(
        "/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    _error(response, 413, "payload_too_large")
    await _still_serving(world)


async def test_nested_fields_are_named(world: World) -> None:
    route = next(r for r in ROUTES if r.pattern.endswith("/answers"))
    call = await route.prepare(world, "student_a")
    first = call.body["answers"][0]
    cases = {
        "answers[0].choice": {**first, "choice": 5},
        "answers[0].zz_unknown": {**first, "zz_unknown": True},
        "answers[0].question_id": {"choice": "A"},
    }
    for field, item in cases.items():
        content = json.dumps({"answers": [item]}).encode()
        response = await _send(world, route, "student_a", call, content, "application/json")
        assert _error(response, 422, "invalid_field")["field"] == field
    register = await world.client.post(
        "/v1/auth/register",
        json={
            "email": "nested@example.ng",
            "password": "correct horse battery",
            "full_name": "Nested Fields",
            "date_of_birth": "2000-01-01",
            "consents": {"terms": "yes"},
        },
    )
    assert _error(register, 422, "invalid_field")["field"] == "consents.terms"


async def test_unknown_ids_are_404(world: World) -> None:
    nobody = uuid.uuid4()
    student = world.headers("student_a")
    answers = await next(r for r in ROUTES if r.pattern.endswith("/answers")).prepare(
        world, "student_a"
    )
    checks: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", f"/v1/me/requests/{nobody}", student, None),
        ("GET", "/v1/me/requests/not-a-uuid", student, None),
        ("GET", "/v1/me/requests/" + "9" * 300, student, None),
        ("POST", f"/v1/practice/sessions/{nobody}/answers", student, answers.body),
        ("POST", "/v1/practice/sessions/not-a-uuid/answers", student, answers.body),
        ("DELETE", f"/v1/legal-holds/{nobody}", world.headers("steward"), None),
        ("DELETE", "/v1/legal-holds/42", world.headers("steward"), None),
        ("DELETE", f"/v1/staff/{nobody}", world.headers("admin"), None),
        (
            "GET",
            f"/v1/audit/exports/{EXPORT_DAY}/events-0001.parquet",
            world.headers("auditor"),
            None,
        ),
        ("GET", "/v1/audit/exports/2026-01-16/manifest.json", world.headers("auditor"), None),
        ("GET", "/v1/audit/exports/2026-02-30/manifest.json", world.headers("auditor"), None),
        ("GET", f"/v1/audit/exports/{EXPORT_DAY}/..%2F..%2Fkeys", world.headers("auditor"), None),
        ("GET", "/v1/no-such-route", student, None),
    ]
    for method, url, headers, body in checks:
        response = await world.client.request(method, url, headers=headers, json=body)
        _error(response, 404)
        await _still_serving(world)


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _b64(value: dict[str, Any]) -> str:
    return jwt.utils.base64url_encode(json.dumps(value).encode()).decode()


def _protected() -> list[Route]:
    return [route for route in ROUTES if route.access != "public"]


async def test_forged_expired_and_revoked_tokens_are_401(world: World) -> None:
    tokens = world.api.app.ctx.tokens
    assert tokens is not None
    for route in _protected():
        caller = route.principal
        account = world.account(caller)
        assert account is not None
        call = await route.prepare(world, caller)
        claims = jwt.decode(account.token, options={"verify_signature": False})
        forged = jwt.encode(claims, "not-the-secret-" + "y" * 32, algorithm="HS256")
        header, _payload, signature = account.token.split(".")
        tampered_claims = {**claims, "role": "admin"}
        tampered = ".".join((header, _b64(tampered_claims), signature))
        unsigned = ".".join((_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""))
        expired, _ = tokens.issue(
            account.id, account.role, now=datetime.now(UTC) - timedelta(hours=2)
        )
        revoked = await world.fresh_token(caller)
        logout = await world.client.post(
            "/v1/auth/logout", headers={"Authorization": f"Bearer {revoked}"}
        )
        assert logout.status_code == 204
        cases = {
            "token_invalid": (forged, tampered, unsigned, "garbage", "a.b.c"),
            "token_expired": (expired,),
            "token_revoked": (revoked,),
        }
        for code, presented in cases.items():
            for token in presented:
                response = await world.call(
                    route, caller, prepared=Call(call.url, call.body, token)
                )
                _error(response, 401, code)
                await _still_serving(world)


async def test_a_role_claim_the_session_does_not_hold_is_401(world: World) -> None:
    tokens = world.api.app.ctx.tokens
    assert tokens is not None
    student = world.a.account
    conn = await connect(world.api.database_url)
    try:
        elevated, claims = tokens.issue(student.id, "admin")
        await conn.execute(
            "INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, expires_at)"
            " VALUES ($1, $2, 'student', 'student', $3)",
            claims.jti,
            student.id,
            claims.expires_at,
        )
    finally:
        await conn.close()
    response = await world.client.get("/v1/staff", headers={"Authorization": f"Bearer {elevated}"})
    _error(response, 401, "token_revoked")


async def test_sql_looking_and_unicode_strings_come_back_exactly(world: World) -> None:
    for index, name in enumerate((SQLISH, UNICODE, f"{SQLISH} {UNICODE}")):
        email = f"o'reilly+{index}@example.ng"
        registered = await world.api.register(email, full_name=name)
        assert registered.status_code == 201, registered.text
        token = await world.api.login(email)
        headers = world.api.bearer(token)
        me = await world.client.get("/v1/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["full_name"] == name
        assert me.json()["email"] == email
        asked = await world.client.post(
            "/v1/questions", json={"subject": "english", "body": name}, headers=headers
        )
        assert asked.status_code == 201, asked.text
        assert asked.json()["body"] == name
        listed = await world.client.get("/v1/questions", headers=headers)
        assert [q["body"] for q in listed.json()["questions"]] == [name]
        renamed = await world.client.patch(
            "/v1/me", json={"full_name": name[::-1]}, headers=headers
        )
        assert renamed.status_code == 200, renamed.text
        again = await world.client.get("/v1/me", headers=headers)
        assert again.json()["full_name"] == name[::-1]
        exported = await world.client.get("/v1/me/export", headers=headers)
        assert {name, name[::-1]} <= set(_strings(exported.json()))
    conn: asyncpg.Connection = await connect(world.api.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM students") >= 6
    finally:
        await conn.close()
    await _still_serving(world)

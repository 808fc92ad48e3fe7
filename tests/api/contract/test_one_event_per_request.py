"""Every route that touches personal data leaves exactly ONE audit event per request,
allowed or not, stored before the answer: counted by ``request_id`` (sent as
``X-Request-ID``), with the route's action, the outcome its status implies, and
the actor as a pseudonym (never an email). Routes that touch no personal data
(health, metrics, documentation, the exam catalogue) leave none."""

from __future__ import annotations

import json
import re
import uuid

import asyncpg
import httpx
from examstutor_accounts import audit_events
from examstutor_contract import ROUTES, Call, Route, World, outcome_of

_PSEUDONYM = re.compile(r"^(anonymous|[a-z]+_[0-9a-f]{32})$")


async def _one_event(
    world: World, route: Route, caller: str, response: httpx.Response, request_id: str
) -> asyncpg.Record:
    events = await audit_events(world.api.database_url, request_id)
    where = f"{caller} {route.method} {route.pattern} -> {response.status_code}"
    assert len(events) == 1, f"{where}: {len(events)} events"
    (event,) = events
    assert event["outcome"] == outcome_of(response.status_code), where
    assert event["request_id"] == request_id
    assert _PSEUDONYM.match(event["actor_pseudonym"]), (where, event["actor_pseudonym"])
    stored = json.dumps(dict(event.items()), default=str)
    assert "@" not in stored, (where, stored)
    account = world.account(caller)
    if account is not None and route.pattern not in ("/v1/auth/login", "/v1/auth/register"):
        assert event["actor_pseudonym"] == account.pseudonym, where
        assert event["actor_role"] == account.role, where
    return event


async def _call(
    world: World, route: Route, caller: str, call: Call | None = None
) -> tuple[httpx.Response, str]:
    request_id = f"contract-{uuid.uuid4().hex}"
    response = await world.call(route, caller, request_id=request_id, prepared=call)
    assert response.headers["X-Request-ID"] == request_id
    return response, request_id


async def test_allowed_calls_leave_one_success_event(world: World) -> None:
    for route in ROUTES:
        caller = route.principal
        response, request_id = await _call(world, route, caller)
        assert response.status_code == route.ok, (route.key, response.text)
        if route.action is None:
            assert await audit_events(world.api.database_url, request_id) == [], route.key
            continue
        event = await _one_event(world, route, caller, response, request_id)
        assert event["action"] == route.action, route.key
        assert event["outcome"] == "success"


async def test_denied_calls_leave_one_denied_event(world: World) -> None:
    for route in ROUTES:
        if route.action is None or route.access == "public":
            continue
        callers = ["anonymous"] + ([route.denied_caller] if route.denied_caller else [])
        for caller in callers:
            response, request_id = await _call(world, route, caller)
            assert response.status_code in (401, 403), (caller, route.key, response.text)
            event = await _one_event(world, route, caller, response, request_id)
            assert event["action"] == route.action, (caller, route.key)
            assert event["outcome"] == "denied"
            if caller == "anonymous":
                assert event["actor_pseudonym"] == "anonymous"
                assert event["actor_role"] == "anonymous"


async def test_refused_public_calls_leave_one_event(world: World) -> None:
    """The public routes that touch personal data, refused: a wrong password is a denied
    ``auth.login_failed``; a taken email and an unknown consent token are failures."""
    by_pattern = {route.pattern: route for route in ROUTES if route.method == "POST"}
    refusals = [
        (
            "/v1/auth/login",
            Call("/v1/auth/login", {"email": world.login_email, "password": "not the password"}),
            401,
            "auth.login_failed",
        ),
        (
            "/v1/auth/login",
            Call("/v1/auth/login", {"email": "nobody@example.ng", "password": "whatever123"}),
            401,
            "auth.login_failed",
        ),
        (
            "/v1/auth/register",
            Call(
                "/v1/auth/register",
                {
                    "email": world.b.email,
                    "password": "correct horse battery",
                    "full_name": "Someone Else",
                    "date_of_birth": "2000-01-01",
                    "consents": {"terms": True},
                },
            ),
            409,
            "student.registration",
        ),
        (
            "/v1/auth/guardian-consent",
            Call("/v1/auth/guardian-consent", {"token": "no-such-token"}),
            404,
            "ndpr.consent",
        ),
    ]
    for pattern, call, status, action in refusals:
        route = by_pattern[pattern]
        response, request_id = await _call(world, route, "anonymous", call)
        assert response.status_code == status, (pattern, response.text)
        event = await _one_event(world, route, "anonymous", response, request_id)
        assert event["action"] == action, pattern
        assert event["actor_pseudonym"] == "anonymous"


async def test_a_bad_body_on_an_audited_route_still_leaves_one_event(world: World) -> None:
    """Failures after authentication (400, 415, 422) are recorded once, as failures."""
    route = next(r for r in ROUTES if r.key == ("PATCH", "/v1/me"))
    for content, content_type, status in (
        (b"{not json", "application/json", 400),
        (b'{"full_name": "x"}', "text/plain", 415),
        (b'{"nickname": "x"}', "application/json", 422),
    ):
        request_id = f"contract-{uuid.uuid4().hex}"
        response = await world.client.patch(
            "/v1/me",
            content=content,
            headers={
                **world.headers("student_a"),
                "Content-Type": content_type,
                "X-Request-ID": request_id,
            },
        )
        assert response.status_code == status, response.text
        event = await _one_event(world, route, "student_a", response, request_id)
        assert event["action"] == "data.update"
        assert event["outcome"] == "failure"

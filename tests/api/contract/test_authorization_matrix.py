"""Every route of CONTRACT §4 × {anonymous, student A, student B, auditor, steward, admin}.

The route list comes from the app's router: a route without an entry in the
table fails here. Each call is valid for its route (bodies and ids built for
it), so the status says who may call, not whether the input was good: 401
without a token, 403 for the wrong role, 404 for student B on A's resources,
the route's own 2xx otherwise. No answer to anyone but A carries A's email,
name, phone, date of birth, id or question text.
"""

from __future__ import annotations

from examstutor_contract import CALLERS, ROUTES, ROUTES_BY_KEY, World, leaks, served_routes


def test_the_table_names_every_route_the_router_serves(world: World) -> None:
    table = {route.key for route in ROUTES}
    served = served_routes(world.api.app)
    assert not served - table, f"routes without a matrix entry: {sorted(served - table)}"
    assert not table - served, f"matrix entries the router does not serve: {sorted(table - served)}"
    assert len(table) == len(ROUTES), "a route is listed twice"


async def test_every_route_by_every_caller(world: World) -> None:
    secrets = world.secrets_of_a()
    wrong: list[str] = []
    leaked: list[str] = []
    for caller in CALLERS:
        for route in ROUTES:
            response = await world.call(route, caller)
            expected = route.expected(caller)
            if response.status_code != expected:
                wrong.append(
                    f"{caller:<10} {route.method} {route.pattern}: {response.status_code}"
                    f" (expected {expected}) {response.text[:200]}"
                )
            if caller != "student_a":
                found = leaks(response, secrets)
                if found:
                    leaked.append(f"{caller} {route.method} {route.pattern}: {found}")
            assert response.headers.get("X-Request-ID"), (caller, route.key)
    assert not wrong, "\n".join(wrong)
    assert not leaked, "\n".join(leaked)


async def test_the_scan_sees_what_a_reads_and_what_staff_read_about_a(world: World) -> None:
    """Controls for the scan above: A's own answers do carry A's data, and the auditor's
    event page does cover A's requests (as pseudonyms)."""
    own = await world.call(ROUTES_BY_KEY[("GET", "/v1/me")], "student_a")
    assert {world.a.email, world.a.full_name, world.a.phone.lstrip("+")} <= set(
        leaks(own, world.secrets_of_a())
    )
    questions = await world.call(ROUTES_BY_KEY[("GET", "/v1/questions")], "student_a")
    assert world.a_question in leaks(questions, world.secrets_of_a())
    events = await world.call(ROUTES_BY_KEY[("GET", "/v1/audit/events")], "auditor")
    assert world.a.account.pseudonym in events.text
    queue = await world.call(ROUTES_BY_KEY[("GET", "/v1/dsr-requests")], "steward")
    assert world.a.account.pseudonym in queue.text

"""Schemathesis against the API's own ``/docs/openapi.json``: no input makes it answer 5xx.

Every operation of the document is exercised with a bounded number of generated
cases, valid (positive) and invalid (negative), deterministic (derandomised, no
shrinking), each authenticated as the caller the route is for: a student on the
student routes, the right staff role on the staff routes. Valid cases of a route
with an id in its path use a real one (A's request, a fresh practice session, a
fresh legal hold, a fresh staff account, an exported day) so they reach past the
404. The live server runs in the test's event loop; schemathesis sends its
(blocking) requests from a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import hypothesis
import requests
import schemathesis
from examstutor_contract import ROUTES, Route, World
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

#: cases per operation and mode; raise it for a deeper hunt (the suite keeps it small)
EXAMPLES = int(os.environ.get("EXAMSTUTOR_SCHEMATHESIS_EXAMPLES", "8"))


def _settings() -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )


def _exercise(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    path_parameters: dict[str, str] | None,
    statuses: list[int],
) -> str | None:
    """Run the operation's cases; the first server error found, or None."""
    session = requests.Session()
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @_settings()
    @hypothesis.given(case=strategy)
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    try:
        check()
    except hypothesis.errors.Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as exc:  # a server error (or a transport failure): report them all
        return f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}"[:3000]
    finally:
        session.close()
    return None


async def _real_path_parameters(world: World, route: Route) -> dict[str, str] | None:
    """The path parameters of a valid call of ``route`` (None when it has none)."""
    names = re.findall(r"{(\w+)}", route.openapi_path)
    if not names:
        return None
    call = await route.prepare(world, route.principal)
    pattern = re.escape(route.openapi_path)
    for name in names:
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/?]+)")
    found = re.match(pattern, call.url)
    assert found is not None, (route.key, call.url)
    return found.groupdict()


async def test_no_generated_request_gets_a_5xx(world: World) -> None:
    document = (await world.client.get("/docs/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    routes = {(route.method, route.openapi_path): route for route in ROUTES}
    # logout revokes the token it is given: give it one of its own
    logout_token = await world.fresh_token("student_b")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    operations.sort(key=lambda op: op.path == "/v1/auth/logout")  # last
    failures: list[str] = []
    seen: dict[str, list[int]] = {}
    for operation in operations:
        route = routes[(operation.method.upper(), operation.path)]
        account = world.account(route.principal)
        headers = {}
        if route.pattern == "/v1/auth/logout":
            headers["Authorization"] = f"Bearer {logout_token}"
        elif account is not None:
            headers["Authorization"] = f"Bearer {account.token}"
        statuses = seen.setdefault(operation.label, [])
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fixed = await _real_path_parameters(world, route) if mode.is_positive else None
            failure = await asyncio.to_thread(
                _exercise, operation, mode, world.api.url, headers, fixed, statuses
            )
            if failure:
                failures.append(failure)
    documented = {
        (route.method, route.openapi_path)
        for route in ROUTES
        if not route.pattern.startswith("/docs")
    }
    assert {tuple(label.split(" ", 1)) for label in seen} == documented
    assert not failures, "\n\n".join(failures)
    # the callers were right: no operation was refused for who called it every time
    refused = [label for label, got in seen.items() if set(got) <= {401, 403}]
    assert refused in ([], ["POST /v1/auth/logout"]), refused
    assert (await world.client.get("/health/live")).status_code == 200


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object schema with declared properties inside ``schema``."""
    found = [schema] if "properties" in schema else []
    for sub in schema.get("properties", {}).values():
        found += _objects(sub)
    if isinstance(schema.get("items"), dict):
        found += _objects(schema["items"])
    return found


async def test_the_document_is_strict_about_what_the_routes_accept(world: World) -> None:
    """What schemathesis generates from: every body required, closed (no field the
    parser would refuse is allowed) and listing its required fields; every path
    parameter documented; the bearer scheme on exactly the routes that need it."""
    document = (await world.client.get("/docs/openapi.json")).json()
    for route in ROUTES:
        if route.pattern.startswith("/docs"):
            continue
        operation = document["paths"][route.openapi_path][route.method.lower()]
        where = route.key
        secured = operation.get("security") == [{"bearer": []}]
        assert secured == (route.access != "public"), where
        for name in re.findall(r"{(\w+)}", route.openapi_path):
            (parameter,) = [p for p in operation["parameters"] if p["name"] == name]
            assert parameter["in"] == "path" and parameter["required"] is True, where
            assert parameter["schema"].get("type") == "string", where
        call = await route.prepare(world, route.principal)
        if call.body is None:
            assert "requestBody" not in operation, where
            continue
        body = operation["requestBody"]
        assert body["required"] is True, where
        schema = body["content"]["application/json"]["schema"]
        assert schema["type"] == "object", where
        for part in _objects(schema):  # closed, or a map whose values are typed
            extra = part["additionalProperties"]
            assert extra is False or "type" in extra, (where, part)
        assert schema.get("required") or route.key == ("PATCH", "/v1/me"), where
        assert set(schema.get("required", [])) <= set(call.body), (where, schema["required"])
        assert set(call.body) <= set(schema["properties"]), where

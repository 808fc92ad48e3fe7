"""The OpenAPI document describes every route of this area, its parameters and its body,
and the documented bodies match the dataclasses the routes parse."""

from __future__ import annotations

import dataclasses
from typing import Any

from examstutor_testing import LiveApi

from examstutor_api.routes.me_profile import PasswordBody, RectifyBody
from examstutor_api.routes.me_rights import ConsentBody
from examstutor_api.routes.questions import QuestionBody

BODIES: dict[tuple[str, str], type[Any]] = {
    ("patch", "/v1/me"): RectifyBody,
    ("post", "/v1/me/password"): PasswordBody,
    ("put", "/v1/me/consents/{purpose}"): ConsentBody,
    ("post", "/v1/questions"): QuestionBody,
}
ROUTES = {
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("post", "/v1/me/password"),
    ("get", "/v1/me/export"),
    ("post", "/v1/me/erasure"),
    ("get", "/v1/me/requests"),
    ("get", "/v1/me/requests/{request_id}"),
    ("get", "/v1/me/consents"),
    ("put", "/v1/me/consents/{purpose}"),
    ("post", "/v1/questions"),
    ("get", "/v1/questions"),
}


async def test_openapi_documents_every_route_and_body(api: LiveApi) -> None:
    spec = (await api.client.get("/docs/openapi.json")).json()
    paths = spec["paths"]
    documented = {
        (method, path)
        for path, operations in paths.items()
        if path.startswith(("/v1/me", "/v1/questions"))
        for method in operations
    }
    assert documented == ROUTES
    for method, path in ROUTES:
        operation = paths[path][method]
        assert operation["security"] == [{"bearer": []}], (method, path)
        assert operation.get("summary"), (method, path)
        for name in ("request_id", "purpose"):
            if "{" + name + "}" in path:
                params = [p for p in operation["parameters"] if p["name"] == name]
                assert len(params) == 1 and params[0]["in"] == "path", (method, path)
                assert params[0]["required"] is True
    for (method, path), schema_class in BODIES.items():
        body = paths[path][method]["requestBody"]
        assert body["required"] is True
        schema = body["content"]["application/json"]["schema"]
        assert schema["additionalProperties"] is False
        fields = dataclasses.fields(schema_class)
        assert set(schema["properties"]) == {f.name for f in fields}, path
        required = {
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(schema.get("required", [])) == required, path
    export = paths["/v1/me/export"]["get"]["parameters"]
    assert export[0]["schema"]["enum"] == ["json", "zip"]
    limits = {p["name"]: p["schema"] for p in paths["/v1/questions"]["get"]["parameters"]}
    assert limits["limit"]["maximum"] == 200

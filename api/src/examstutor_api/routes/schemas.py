"""OpenAPI documents shared by the student routes: raw JSON schemas and the error answer.

sanic-ext turns classes into schemas; where a route's body or answer needs
constraints it cannot express (required, patterns, nullable), the route gives
a raw JSON schema through :func:`json_content`, emitted as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sanic_ext import openapi
from sanic_ext.extensions.openapi import types as oas

__all__ = [
    "ERROR",
    "TEXT",
    "TEXT_OR_NULL",
    "TIME",
    "TIME_OR_NULL",
    "UUID",
    "denials",
    "json_content",
    "object_schema",
    "schema",
]

#: sanic-ext's schema classes are untyped: a typed handle for mypy --strict (parameters)
schema: Callable[..., oas.Schema] = oas.Schema


F = TypeVar("F", bound=Callable[..., Any])


def json_content(raw: dict[str, Any]) -> dict[str, Any]:
    """``application/json`` content with a raw JSON schema (sanic-ext emits it as it is)."""
    return {"application/json": {"schema": raw}}


def object_schema(required: bool = True, **properties: Any) -> dict[str, Any]:
    """An object of these properties, all required unless ``required`` is False."""
    raw: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        raw["required"] = sorted(properties)
    return raw


TEXT: dict[str, Any] = {"type": "string"}
TEXT_OR_NULL: dict[str, Any] = {"type": "string", "nullable": True}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
TIME_OR_NULL: dict[str, Any] = {**TIME, "nullable": True}
UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
_ERROR_DETAIL = object_schema(code=TEXT, message=TEXT, request_id=TEXT, field=TEXT)
_ERROR_DETAIL["required"] = ["code", "message", "request_id"]
#: the answer of every error: {"error": {"code", "message", "request_id", "field"?}}
ERROR = json_content(object_schema(error=_ERROR_DETAIL))


def denials(who: str) -> Callable[[F], F]:
    """Document the 401 (not signed in) and 403 (not ``who``) answers of a route."""

    def decorate(handler: F) -> F:
        handler = openapi.response(401, ERROR, "Not signed in")(handler)
        return openapi.response(403, ERROR, f"Not {who}")(handler)

    return decorate

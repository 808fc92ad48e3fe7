"""Strict JSON request bodies: content type, size, syntax, then fields.

Bodies are declared as frozen dataclasses. :func:`parse_body` checks the
content type (415), parses the JSON (400), requires an object, rejects unknown
fields and wrong types, and runs each field's constraint (422 naming the
field). Nothing is written before a body has passed all of it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sanic import Request

from examstutor_api.errors import BadRequest, Unprocessable, UnsupportedMediaType

__all__ = ["EMAIL", "constrain", "parse_body", "parse_json_object", "parse_value"]

T = TypeVar("T")
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,190}\.[^@\s\x00-\x1f.]{2,63}$")


def constrain(check: Callable[[Any], str | None], **kwargs: Any) -> Any:
    """A dataclass field whose value must pass ``check`` (returns an error text or None)."""
    metadata = {"check": check}
    return dataclasses.field(metadata=metadata, **kwargs)


def parse_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the precise 4xx."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.body or b""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_body(request: Request, schema: type[T]) -> T:
    """Parse and validate the body into ``schema`` (a dataclass)."""
    return parse_value(parse_json_object(request), schema, "")


def parse_value(data: dict[str, Any], schema: type[T], prefix: str) -> T:
    """Validate a JSON object against a dataclass ``schema``."""
    fields = {f.name: f for f in dataclasses.fields(schema)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(schema)
    for name in data:
        if name not in fields:
            raise Unprocessable(f"unknown field {prefix}{name}", field=f"{prefix}{name}")
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        path = f"{prefix}{name}"
        if name not in data:
            has_default = (
                spec.default is not dataclasses.MISSING
                or spec.default_factory is not dataclasses.MISSING
            )
            if has_default:
                continue
            raise Unprocessable(f"{path} is required", field=path)
        value = _coerce(data[name], hints[name], path)
        check = spec.metadata.get("check")
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise Unprocessable(f"{path} {problem}", field=path)
        values[name] = value
    return schema(**values)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], path)
    if hint is bool:
        if not isinstance(value, bool):
            raise Unprocessable(f"{path} must be true or false", field=path)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unprocessable(f"{path} must be a whole number", field=path)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise Unprocessable(f"{path} must be a string", field=path)
        if "\x00" in value:
            raise Unprocessable(f"{path} must not contain NUL characters", field=path)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
            raise Unprocessable(f"{path} must be valid Unicode text", field=path) from None
        return value
    if hint is date:
        if not isinstance(value, str):
            raise Unprocessable(f"{path} must be a date YYYY-MM-DD", field=path)
        try:
            return date.fromisoformat(value) if len(value) == 10 else _bad_date(path)
        except ValueError:
            raise Unprocessable(f"{path} must be a date YYYY-MM-DD", field=path) from None
    if origin is dict:
        if not isinstance(value, dict):
            raise Unprocessable(f"{path} must be an object", field=path)
        key_hint, value_hint = args
        return {
            _coerce(k, key_hint, f"{path}.{k}"): _coerce(v, value_hint, f"{path}.{k}")
            for k, v in value.items()
        }
    if origin is list:
        if not isinstance(value, list):
            raise Unprocessable(f"{path} must be a list", field=path)
        return [_coerce(item, args[0], f"{path}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise Unprocessable(f"{path} must be an object", field=path)
        return parse_value(value, hint, f"{path}.")  # type: ignore[arg-type]
    raise TypeError(f"unsupported body field type {hint!r} at {path}")


def _bad_date(path: str) -> Any:
    raise Unprocessable(f"{path} must be a date YYYY-MM-DD", field=path)

"""Strict JSON request bodies: content type, size, syntax, then fields.

Bodies are declared as frozen dataclasses. :func:`parse_body` checks the
content type (415), parses the JSON (400, also for a name given twice in one
object and for nesting deeper than the decoder recurses), requires an object, rejects unknown
fields and wrong types, and runs each field's constraint (422 naming the
field). Nothing is written before a body has passed all of it.

:func:`json_body` documents a body dataclass in OpenAPI exactly as
:func:`parse_body` enforces it: every field typed, ``required`` unless it has a
default, ``additionalProperties: false``, ``nullable`` where None is accepted,
and the keywords a field's :func:`constrain` declares (lengths, patterns, enums).
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

__all__ = [
    "EMAIL",
    "body_schema",
    "constrain",
    "json_body",
    "parse_body",
    "parse_json_object",
    "parse_value",
    "query_int",
]

T = TypeVar("T")
#: digits a whole-number query parameter may have (int() refuses over 4300 with ValueError)
_MAX_DIGITS = 32
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,190}\.[^@\s\x00-\x1f.]{2,63}$")


def constrain(
    check: Callable[[Any], str | None], *, schema: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    """A dataclass field whose value must pass ``check`` (returns an error text or None).

    ``schema``: the JSON-schema keywords that describe ``check`` in OpenAPI
    (``maxLength``, ``pattern``, ``enum``…), merged into the field's schema."""
    metadata: dict[str, Any] = {"check": check}
    if schema:
        metadata["schema"] = schema
    return dataclasses.field(metadata=metadata, **kwargs)


def body_schema(schema: type[Any]) -> dict[str, Any]:
    """The OpenAPI 3.0 schema of a body dataclass, as :func:`parse_value` enforces it."""
    hints = typing.get_type_hints(schema)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for spec in dataclasses.fields(schema):
        field_schema = {**_type_schema(hints[spec.name]), **spec.metadata.get("schema", {})}
        if field_schema.get("nullable") and None not in field_schema.get("enum", [None]):
            field_schema["enum"] = [*field_schema["enum"], None]  # OpenAPI 3.0: null is listed
        properties[spec.name] = field_schema
        if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            required.append(spec.name)
    document: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        document["required"] = required
    if schema.__doc__:
        document["description"] = " ".join(schema.__doc__.split()).replace("``", "`")
    return document


def json_body(schema: type[Any]) -> dict[str, Any]:
    """``application/json`` content for ``@openapi.body``: :func:`body_schema` of ``schema``."""
    return {"application/json": {"schema": body_schema(schema)}}


def _type_schema(hint: Any) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return {**_type_schema(inner[0]), "nullable": True}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is str:
        return {"type": "string"}
    if hint is date:
        return {"type": "string", "format": "date"}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    if origin is list:
        return {"type": "array", "items": _type_schema(args[0])}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return body_schema(hint)
    raise TypeError(f"no JSON schema for body field type {hint!r}")


def parse_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the precise 4xx."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    raw = request.body or b""
    try:
        text = raw.decode("utf-8")
        value = json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="malformed_json") from None
    except RecursionError:  # "[[[[…]]]]" nested deeper than the decoder recurses
        raise BadRequest(
            "the body is not valid JSON: nested too deeply", code="malformed_json"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="malformed_json")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a name given twice is refused (which one counts would be a guess)."""
    value: dict[str, Any] = {}
    for name, item in pairs:
        if name in value:
            raise ValueError(f"the name {name!r} appears twice in one object")
        value[name] = item
    return value


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high`` (``default``
    when absent); 422 naming it for anything else: blank, signs, non-ASCII digits such as
    "²" or "١", or more digits than any such number needs."""
    raw = request.get_args(keep_blank_values=True).get(name)
    if raw is None:
        return default
    if (
        not raw.isascii()
        or not raw.isdigit()
        or len(raw) > _MAX_DIGITS
        or not low <= int(raw) <= high
    ):
        raise Unprocessable(f"{name} must be a whole number from {low} to {high}", field=name)
    return int(raw)


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

"""Data stewards: ``/v1/dsr-requests`` (the queue) and ``/v1/legal-holds``.

Stewards see students only as pseudonyms (``stu_…``): nothing here decrypts.
A legal hold names exactly one of a student (by id) or a retention category
(from the retention policy); while it is active, retention and erasure leave
that data alone. ``placed_by`` and ``released_by`` are the steward's pseudonym.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi import types as oas

from examstutor_api.auditing import audit_spec, audited, audited_transaction
from examstutor_api.auth.principal import require
from examstutor_api.bodies import constrain, json_body, parse_body, query_int
from examstutor_api.errors import Conflict, NotFound, Unprocessable
from examstutor_api.routes.schemas import ERROR as _JSON_ERROR
from examstutor_api.routes.schemas import denials
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import load_policy

__all__ = ["bp"]

bp = Blueprint("steward")

Q = load_queries("examstutor_api.queries", "steward.sql")
#: sanic-ext's schema classes are untyped: typed handles for mypy --strict
_Boolean: Callable[..., oas.Schema] = oas.Boolean
_Integer: Callable[..., oas.Schema] = oas.Integer
_String: Callable[..., oas.Schema] = oas.String
DSR_STATUSES = ("pending", "in_progress", "completed", "on_hold", "rejected")
QUEUE_DEFAULT, QUEUE_MAX = 100, 1000
MAX_REASON = 2000
MAX_OFFSET = 1_000_000


def _reason_problem(value: str) -> str | None:
    if not value.strip() or len(value) > MAX_REASON:
        return f"must be 1 to {MAX_REASON} characters, not only spaces"
    return None


def _short_problem(value: str) -> str | None:
    return None if 1 <= len(value) <= 64 else "must be 1 to 64 characters"


@dataclass(frozen=True)
class LegalHoldBody:
    """Hold a student's data (``student_id``) or a whole retention category
    (``category``): exactly one of the two."""

    reason: str = constrain(
        _reason_problem, schema={"minLength": 1, "maxLength": MAX_REASON, "pattern": r"\S"}
    )
    student_id: str | None = constrain(_short_problem, schema={"format": "uuid"}, default=None)
    category: str | None = constrain(
        _short_problem, schema={"enum": list(load_policy().names())}, default=None
    )


@dataclass(frozen=True)
class DsrEntry:
    """A data-subject request; the student appears as a pseudonym."""

    request_id: str
    student: str
    type: str
    status: str
    received_at: str
    due_at: str
    completed_at: str | None
    hold_reason: str | None
    certificate_id: str | None
    overdue: bool


@dataclass(frozen=True)
class DsrQueueAnswer:
    """The queue, by due date."""

    requests: list[DsrEntry]
    overdue: int


@dataclass(frozen=True)
class LegalHoldAnswer:
    """A legal hold; ``student`` is a pseudonym, ``placed_by`` the steward's."""

    hold_id: str
    student: str | None
    category: str | None
    reason: str
    placed_by: str
    placed_at: str
    released_at: str | None
    released_by: str | None
    active: bool


@dataclass(frozen=True)
class LegalHoldsAnswer:
    """Legal holds, newest first."""

    holds: list[LegalHoldAnswer]


_denials = denials("a steward")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _student(request: Request, student_id: uuid.UUID | None) -> str | None:
    if student_id is None:
        return None
    pseudonym: str = request.app.ctx.pseudonyms.pseudonym("student", str(student_id))
    return pseudonym


# ---------------------------------------------------------------- the DSR queue


@bp.get("/dsr-requests")
@openapi.summary("The data-subject request queue, by due date")
@openapi.description(
    "`overdue` is true when `due_at` has passed and the request is neither completed nor "
    "rejected. Students appear as pseudonyms."
)
@openapi.secured("bearer")
@openapi.parameter("status", _String(enum=list(DSR_STATUSES)), "query")
@openapi.parameter("limit", _Integer(minimum=1, maximum=QUEUE_MAX, default=QUEUE_DEFAULT), "query")
@openapi.parameter("offset", _Integer(minimum=0, maximum=MAX_OFFSET, default=0), "query")
@openapi.response(200, {"application/json": DsrQueueAnswer}, "The queue")
@openapi.response(422, _JSON_ERROR, "A parameter is invalid; `field` names it")
@_denials
@audited("data.read", "dsr_request")
async def dsr_queue(request: Request) -> HTTPResponse:
    """Data-subject requests with ``due_at`` and ``overdue``."""
    await require(request, "steward")
    status = request.get_args(keep_blank_values=True).get("status")
    if status is not None and status not in DSR_STATUSES:
        raise Unprocessable(f"status must be one of {', '.join(DSR_STATUSES)}", field="status")
    limit = query_int(request, "limit", QUEUE_DEFAULT, 1, QUEUE_MAX)
    offset = query_int(request, "offset", 0, 0, MAX_OFFSET)
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["dsr_queue"], status, limit, offset)
    entries = [
        {
            "request_id": str(row["id"]),
            "student": _student(request, row["student_id"]),
            "type": row["type"],
            "status": row["status"],
            "received_at": row["received_at"].isoformat(),
            "due_at": row["due_at"].isoformat(),
            "completed_at": _iso(row["completed_at"]),
            "hold_reason": row["hold_reason"],
            "certificate_id": str(row["certificate_id"]) if row["certificate_id"] else None,
            "overdue": row["overdue"],
        }
        for row in rows
    ]
    overdue = sum(1 for entry in entries if entry["overdue"])
    audit_spec(request).details = {
        "operation": "queue",
        "status": status,
        "returned": len(entries),
        "overdue": overdue,
    }
    return JSONResponse({"requests": entries, "overdue": overdue})


# ---------------------------------------------------------------- legal holds


def _hold(request: Request, row: Any) -> dict[str, Any]:
    return {
        "hold_id": str(row["id"]),
        "student": _student(request, row["student_id"]),
        "category": row["category"],
        "reason": row["reason"],
        "placed_by": row["placed_by"],
        "placed_at": row["placed_at"].isoformat(),
        "released_at": _iso(row["released_at"]),
        "released_by": row["released_by"],
        "active": row["released_at"] is None,
    }


def _target(body: LegalHoldBody) -> tuple[uuid.UUID | None, str | None]:
    """The hold's one target: a student id or a policy category; 422 otherwise."""
    if (body.student_id is None) == (body.category is None):
        raise Unprocessable(
            "give exactly one of student_id and category",
            field="category" if body.student_id is not None else "student_id",
        )
    if body.student_id is not None:
        try:
            return uuid.UUID(body.student_id), None
        except ValueError:
            raise Unprocessable("student_id must be a UUID", field="student_id") from None
    names = load_policy().names()
    if body.category not in names:
        raise Unprocessable(
            f"category must be one of the retention policy's: {', '.join(names)}",
            field="category",
        )
    return None, body.category


@bp.post("/legal-holds")
@openapi.summary("Place a legal hold on a student's data or a retention category")
@openapi.description(
    "Exactly one of `student_id` and `category` (a retention policy category). 404 "
    "`student_not_found` for an unknown student."
)
@openapi.secured("bearer")
@openapi.body(json_body(LegalHoldBody), required=True)
@openapi.response(201, {"application/json": LegalHoldAnswer}, "The hold")
@openapi.response(404, _JSON_ERROR, "No such student")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@_denials
@audited("ndpr.legal_hold", "legal_hold")
async def place_hold(request: Request) -> HTTPResponse:
    """Hold data against retention and erasure."""
    principal = await require(request, "steward")
    body = parse_body(request, LegalHoldBody)
    student_id, category = _target(body)
    spec = audit_spec(request)
    spec.details = {
        "operation": "place",
        "category": category,
        "student": _student(request, student_id),
    }
    spec.severity = "medium"
    async with audited_transaction(request, 201) as conn:
        if student_id is not None and not await conn.fetchval(Q["student_exists"], student_id):
            raise NotFound("no such student", code="student_not_found")
        row = await conn.fetchrow(
            Q["insert_hold"], student_id, category, body.reason, principal.pseudonym
        )
        assert row is not None  # INSERT … RETURNING
        spec.resource_id = str(row["id"])
    return JSONResponse(_hold(request, row), status=201)


@bp.get("/legal-holds")
@openapi.summary("Legal holds: active ones, or all with include_released=true")
@openapi.secured("bearer")
@openapi.parameter("include_released", _Boolean(default=False), "query")
@openapi.response(200, {"application/json": LegalHoldsAnswer}, "The holds, newest first")
@openapi.response(422, _JSON_ERROR, "include_released is not true or false")
@_denials
@audited("data.read", "legal_hold")
async def list_holds(request: Request) -> HTTPResponse:
    """The holds, newest first."""
    await require(request, "steward")
    raw = request.get_args(keep_blank_values=True).get("include_released", "false")
    if raw not in ("true", "false"):
        raise Unprocessable("include_released must be true or false", field="include_released")
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["list_holds"], raw == "true")
    audit_spec(request).details = {"operation": "list", "returned": len(rows)}
    return JSONResponse({"holds": [_hold(request, row) for row in rows]})


@bp.delete("/legal-holds/<hold_id:uuid>")
@openapi.summary("Release a legal hold")
@openapi.description("409 `hold_released` when it was released already.")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": LegalHoldAnswer}, "The released hold")
@openapi.response(404, _JSON_ERROR, "No such hold")
@openapi.response(409, _JSON_ERROR, "Already released")
@_denials
@audited("ndpr.legal_hold", "legal_hold")
async def release_hold(request: Request, hold_id: uuid.UUID) -> HTTPResponse:
    """Release an active hold; who released it is recorded."""
    principal = await require(request, "steward")
    spec = audit_spec(request)
    spec.resource_id = str(hold_id)
    spec.details = {"operation": "release"}
    spec.severity = "medium"
    async with audited_transaction(request) as conn:
        current = await conn.fetchrow(Q["hold_for_update"], hold_id)
        if current is None:
            raise NotFound("no such legal hold", code="hold_not_found")
        if current["released_at"] is not None:
            raise Conflict("this legal hold was already released", code="hold_released")
        row = await conn.fetchrow(Q["release_hold"], hold_id, principal.pseudonym)
    return JSONResponse(_hold(request, row))

"""``/v1/me``'s data-subject rights: export, erasure request, requests, consent ledger.

A student still waiting for guardian consent may export, ask for erasure and
follow their requests; the consent routes answer 403 ``guardian_consent_required``
until the guardian confirms. Audit events name the student (pseudonymised) as
the resource; a request's id goes in ``details``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse, raw
from sanic_ext import openapi

from examstutor_api.auditing import audit_spec, audited, audited_transaction
from examstutor_api.bodies import parse_body
from examstutor_api.errors import Conflict, Forbidden, NotFound, Unprocessable
from examstutor_api.export import build_export
from examstutor_api.routes.me_profile import ADULT_AGE, own_student, today
from examstutor_api.routes.schemas import (
    ERROR,
    TEXT,
    TEXT_OR_NULL,
    TIME,
    TIME_OR_NULL,
    UUID,
    json_content,
    object_schema,
    schema,
)
from examstutor_api.students import age_on, load_profile
from examstutor_platform.db.queries import load_queries

__all__ = ["CONSENT_SCHEMA", "PURPOSE", "TERMS_PURPOSE", "ConsentBody", "bp"]

bp = Blueprint("me_rights")
Q = load_queries("examstutor_api.queries", "me.sql")

PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: consent that the contract itself rests on: withdrawing it means ending the account
TERMS_PURPOSE = "terms"
_ERASURE_ATTEMPTS = 3


@dataclass(frozen=True)
class ConsentBody:
    """Grant (true) or withdraw (false) consent to one purpose."""

    granted: bool


CONSENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["granted"],
    "properties": {"granted": {"type": "boolean"}},
}

_DSR = object_schema(
    request_id=UUID,
    type=TEXT,
    status=TEXT,
    received_at=TIME,
    due_at=TIME,
    completed_at=TIME_OR_NULL,
)
_CONSENT_STATE = object_schema(
    purpose=TEXT, granted={"type": "boolean"}, given_by=TEXT, recorded_at=TIME
)
_CONSENT_ROW = object_schema(
    id={"type": "integer"},
    purpose=TEXT,
    granted={"type": "boolean"},
    given_by=TEXT,
    policy_version=TEXT_OR_NULL,
    recorded_at=TIME,
)


def _request_json(row: Any) -> dict[str, Any]:
    """A data-subject request as its owner sees it (never the steward's hold reason)."""
    return {
        "request_id": str(row["id"]),
        "type": row["type"],
        "status": row["status"],
        "received_at": row["received_at"].isoformat(),
        "due_at": row["due_at"].isoformat(),
        "completed_at": row["completed_at"].isoformat() if row["completed_at"] else None,
    }


# ---------------------------------------------------------------- export


def _export_format(request: Request) -> str:
    values = request.args.getlist("format") or ["json"]
    if len(values) != 1 or values[0] not in ("json", "zip"):
        raise Unprocessable("format must be json or zip", field="format")
    fmt: str = values[0]
    return fmt


@bp.get("/export")
@openapi.summary("Everything held about you: JSON, or a zip of one CSV per category")
@openapi.description(
    "Recorded as a completed data-subject request: `access` for JSON, `export` "
    "(portability) for zip. The zip holds one UTF-8 CSV per category with a header row, "
    "manifest.json (files, rows, SHA-256) and README.txt."
)
@openapi.secured("bearer")
@openapi.parameter(
    "format",
    schema(type="string", enum=["json", "zip"], default="json"),
    "query",
    description="json (the default) or zip",
)
@openapi.response(
    200,
    {
        **json_content(
            object_schema(
                format=TEXT,
                generated_at=TIME,
                student_id=UUID,
                categories={"type": "object"},
            )
        ),
        "application/zip": {"schema": {"type": "string", "format": "binary"}},
    },
    "the export, as an attachment",
)
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student")
@openapi.response(422, ERROR, "format is neither json nor zip")
@audited("data.export", "student_export")
async def export_data(request: Request) -> HTTPResponse:
    """Export your data (allowed while guardian consent is pending)."""
    principal = await own_student(request, allow_pending=True)
    fmt = _export_format(request)
    ctx = request.app.ctx
    spec = audit_spec(request)
    spec.details["format"] = fmt
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        profile = await load_profile(conn, ctx.cipher, principal.subject_id)
        if profile is None:
            raise NotFound("no such profile")
        request_id = await conn.fetchval(
            Q["insert_completed_request"],
            principal.subject_id,
            "access" if fmt == "json" else "export",
            ctx.settings.dsr_days,
        )
        export = await build_export(conn, ctx.cipher, ctx.pseudonyms, profile)
    spec.details["request_id"] = str(request_id)
    if fmt == "zip":
        data = await asyncio.to_thread(export.to_zip)
        return raw(
            data,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{export.filename_stem}.zip"'},
        )
    return JSONResponse(
        export.as_json(),
        headers={"Content-Disposition": f'attachment; filename="{export.filename_stem}.json"'},
    )


# ---------------------------------------------------------------- requests


@bp.post("/erasure")
@openapi.summary("Ask for your data to be erased")
@openapi.description(
    "202 with the open erasure request. Asking again while one is open returns the same "
    "request. The erasure itself is carried out by the pipelines before due_at."
)
@openapi.secured("bearer")
@openapi.response(
    202,
    json_content(object_schema(request_id=UUID, status=TEXT, due_at=TIME)),
    "the open erasure request",
)
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student")
@audited("ndpr.erasure_request", "dsr_request")
async def request_erasure(request: Request) -> HTTPResponse:
    """Request erasure (allowed while guardian consent is pending); idempotent."""
    principal = await own_student(request, allow_pending=True)
    ctx = request.app.ctx
    row, created = None, False
    async with ctx.pool.acquire() as conn:
        for _ in range(_ERASURE_ATTEMPTS):  # an open request may close between the two reads
            async with conn.transaction():
                row = await conn.fetchrow(
                    Q["open_erasure_request"], principal.subject_id, ctx.settings.dsr_days
                )
                created = row is not None
                if row is None:
                    row = await conn.fetchrow(Q["current_erasure_request"], principal.subject_id)
            if row is not None:
                break
    if row is None:
        raise Conflict("the erasure request changed while it was read; try again")
    audit_spec(request).details.update(request_id=str(row["id"]), created=created)
    return JSONResponse(
        {
            "request_id": str(row["id"]),
            "status": row["status"],
            "due_at": row["due_at"].isoformat(),
        },
        status=202,
    )


@bp.get("/requests")
@openapi.summary("Your data-subject requests, newest first")
@openapi.secured("bearer")
@openapi.response(
    200, json_content(object_schema(requests={"type": "array", "items": _DSR})), "requests"
)
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student")
@audited("data.read", "dsr_request")
async def list_requests(request: Request) -> HTTPResponse:
    """Your requests and their status (allowed while guardian consent is pending)."""
    principal = await own_student(request, allow_pending=True)
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["list_requests"], principal.subject_id)
    return JSONResponse({"requests": [_request_json(row) for row in rows]})


@bp.get("/requests/<request_id:str>")
@openapi.summary("One of your data-subject requests")
@openapi.description("404 for an unknown id, another student's id or a malformed id alike.")
@openapi.parameter(
    "request_id",
    schema(type="string", format="uuid"),
    "path",
    required=True,
    description="the request's id",
)
@openapi.secured("bearer")
@openapi.response(200, json_content(_DSR), "the request")
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student")
@openapi.response(404, ERROR, "no such request of yours")
@audited("data.read", "dsr_request")
async def read_request(request: Request, request_id: str) -> HTTPResponse:
    """One request (allowed while guardian consent is pending)."""
    principal = await own_student(request, allow_pending=True)
    try:
        wanted = uuid.UUID(request_id)
    except ValueError:
        raise NotFound("no such request") from None
    audit_spec(request).details["request_id"] = str(wanted)
    async with request.app.ctx.pool.acquire() as conn:
        row = await conn.fetchrow(Q["get_request"], wanted, principal.subject_id)
    if row is None:
        raise NotFound("no such request")
    return JSONResponse(_request_json(row))


# ---------------------------------------------------------------- consents


def _consent_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "purpose": row["purpose"],
        "granted": row["granted"],
        "given_by": row["given_by"],
        "policy_version": row["policy_version"],
        "recorded_at": row["recorded_at"].isoformat(),
    }


@bp.get("/consents")
@openapi.summary("Your consents: the current state per purpose and the whole ledger")
@openapi.secured("bearer")
@openapi.response(
    200,
    json_content(
        object_schema(
            consents={"type": "array", "items": _CONSENT_STATE},
            history={"type": "array", "items": _CONSENT_ROW},
        )
    ),
    "current state per purpose, and the ledger",
)
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student, or guardian consent is pending")
@audited("data.read", "consent")
async def list_consents(request: Request) -> HTTPResponse:
    """Current consent per purpose and the ledger in the order it was written."""
    principal = await own_student(request)
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["consent_history"], principal.subject_id)
    history = [_consent_json(row) for row in rows]
    current: dict[str, dict[str, Any]] = {}
    for entry in history:
        current[entry["purpose"]] = {
            key: entry[key] for key in ("purpose", "granted", "given_by", "recorded_at")
        }
    return JSONResponse({"consents": [current[p] for p in sorted(current)], "history": history})


@bp.put("/consents/<purpose:str>")
@openapi.summary("Grant or withdraw consent to one purpose")
@openapi.description(
    "Appends to the consent ledger when the state changes (an unchanged state appends "
    "nothing). Under 18, only a guardian can grant: 403 guardian_consent_required; "
    "withdrawing is always allowed, except 'terms' (409 terms_required: ask for erasure)."
)
@openapi.parameter("purpose", schema(type="string", pattern=PURPOSE.pattern), "path", required=True)
@openapi.secured("bearer")
@openapi.body({"application/json": {"schema": CONSENT_SCHEMA}}, required=True)
@openapi.response(
    200,
    json_content(object_schema(**_CONSENT_STATE["properties"], changed={"type": "boolean"})),
    "the purpose's state",
)
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student, or guardian_consent_required")
@openapi.response(409, ERROR, "terms_required")
@openapi.response(422, ERROR, "invalid purpose or body, named in field")
@audited("ndpr.consent", "consent")
async def set_consent(request: Request, purpose: str) -> HTTPResponse:
    """Grant or withdraw one purpose (not while guardian consent is pending)."""
    principal = await own_student(request)
    if not PURPOSE.match(purpose):
        raise Unprocessable(
            "purpose must be lower-case letters, digits and _ (at most 64), starting with a letter",
            field="purpose",
        )
    spec = audit_spec(request)
    spec.details["purpose"] = purpose
    body = parse_body(request, ConsentBody)
    spec.details["granted"] = body.granted
    if purpose == TERMS_PURPOSE and not body.granted:
        raise Conflict(
            "the terms are what the account rests on; to end it, ask for erasure with "
            "POST /v1/me/erasure",
            code="terms_required",
        )
    ctx = request.app.ctx
    async with audited_transaction(request) as conn:
        # the row lock serialises one student's consent changes
        profile = await load_profile(conn, ctx.cipher, principal.subject_id, for_update=True)
        if profile is None:
            raise NotFound("no such profile")
        current = await conn.fetchrow(Q["current_consent"], principal.subject_id, purpose)
        if current is not None and current["granted"] == body.granted:
            spec.details["changed"] = False
            return JSONResponse(
                {
                    "purpose": purpose,
                    "granted": current["granted"],
                    "given_by": current["given_by"],
                    "recorded_at": current["recorded_at"].isoformat(),
                    "changed": False,
                }
            )
        if body.granted and age_on(profile.date_of_birth, today(request)) < ADULT_AGE:
            raise Forbidden(
                "under 18, only a guardian can grant consent", code="guardian_consent_required"
            )
        row = await conn.fetchrow(Q["append_consent"], principal.subject_id, purpose, body.granted)
        assert row is not None  # INSERT … RETURNING
        spec.details["changed"] = True
    return JSONResponse(
        {
            "purpose": purpose,
            "granted": body.granted,
            "given_by": "student",
            "recorded_at": row["recorded_at"].isoformat(),
            "changed": True,
        }
    )

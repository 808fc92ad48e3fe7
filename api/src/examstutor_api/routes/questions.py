"""``/v1/questions``: tutor questions a student asks, stored encrypted, read back by them only.

A question's body is AES-256-GCM ciphertext bound to ``questions``/``body_enc``
and the question's id; it is returned exactly as it was sent.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse
from sanic_ext import openapi
from sanic_ext.extensions.openapi import types as oas

from examstutor_api.auditing import audit_spec, audited, audited_transaction
from examstutor_api.auth import require
from examstutor_api.bodies import constrain, parse_body
from examstutor_api.errors import Unprocessable
from examstutor_api.practice import load_bank
from examstutor_api.routes.schemas import ERROR
from examstutor_platform.crypto import FieldCipher
from examstutor_platform.db.queries import load_queries

__all__ = ["MAX_BODY_CHARS", "QUESTION_SCHEMA", "QuestionBody", "bp", "subjects"]

bp = Blueprint("questions", url_prefix="/questions")
Q = load_queries("examstutor_api.queries", "questions.sql")
MAX_BODY_CHARS = 5000
DEFAULT_PAGE, MAX_PAGE, MAX_OFFSET = 50, 200, 1_000_000
_TABLE, _COLUMN = "questions", "body_enc"


@functools.cache
def subjects() -> tuple[str, ...]:
    """Every subject id of the practice bank, over all exams, sorted."""
    return tuple(sorted({s.id for exam in load_bank().exams() for s in exam.subjects}))


def _subject_problem(value: str) -> str | None:
    if value not in subjects():
        return f"must be one of: {', '.join(subjects())}"
    return None


def _body_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_BODY_CHARS:
        return f"must be at most {MAX_BODY_CHARS} characters"
    return None


@dataclass(frozen=True)
class QuestionBody:
    """A question for the tutors: a subject of the practice bank and up to 5000 characters."""

    subject: str = constrain(_subject_problem)
    body: str = constrain(_body_problem)


#: the body as OpenAPI documents it (a test keeps it in step with :class:`QuestionBody`)
QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["subject", "body"],
    "properties": {
        "subject": {"type": "string", "enum": list(subjects())},
        "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY_CHARS, "pattern": r"\S"},
    },
}


#: sanic-ext's schema classes are untyped: a typed handle for mypy --strict
_Integer: Callable[..., oas.Schema] = oas.Integer
_QUESTION = {
    "type": "object",
    "required": ["question_id", "subject", "body", "status", "created_at"],
    "properties": {
        "question_id": {"type": "string", "format": "uuid"},
        "subject": {"type": "string"},
        "body": {"type": "string", "nullable": True},
        "status": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
_PAGE = {
    "type": "object",
    "required": ["questions", "next_offset"],
    "properties": {
        "questions": {"type": "array", "items": _QUESTION},
        "next_offset": {"type": "integer", "nullable": True},
    },
}


def _question_json(cipher: FieldCipher, row: Any) -> dict[str, Any]:
    body = row["body_enc"]
    return {
        "question_id": str(row["id"]),
        "subject": row["subject"],
        "body": None
        if body is None
        else cipher.decrypt_text(body, table=_TABLE, column=_COLUMN, row_id=str(row["id"])),
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
    }


@bp.post("")
@openapi.summary("Ask the tutors a question")
@openapi.secured("bearer")
@openapi.body({"application/json": {"schema": QUESTION_SCHEMA}}, required=True)
@openapi.response(201, {"application/json": {"schema": _QUESTION}}, "the question as stored")
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student, or guardian consent is pending")
@openapi.response(422, ERROR, "an invalid field, named in field")
@audited("student.question", "question")
async def ask_question(request: Request) -> HTTPResponse:
    """Store a question, its body encrypted under the primary data key."""
    principal = await require(request, "student")
    spec = audit_spec(request)
    spec.resource_id = principal.pseudonym
    body = parse_body(request, QuestionBody)
    ctx = request.app.ctx
    question_id = uuid.uuid4()
    cipher = ctx.cipher
    sealed = cipher.encrypt(body.body, table=_TABLE, column=_COLUMN, row_id=str(question_id))
    async with audited_transaction(request, 201) as conn:
        row = await conn.fetchrow(
            Q["insert_question"],
            question_id,
            principal.subject_id,
            body.subject,
            sealed,
            cipher.primary_version,
        )
        assert row is not None  # INSERT … RETURNING
        spec.details.update(question_id=str(question_id), subject=body.subject)
    return JSONResponse(
        {
            "question_id": str(question_id),
            "subject": body.subject,
            "body": body.body,
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
        },
        status=201,
    )


def _page_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    values = request.args.getlist(name)
    if not values:
        return default
    text = values[0]
    if len(values) != 1 or not text.isascii() or not text.isdigit() or len(text) > 8:
        raise Unprocessable(f"{name} must be a whole number from {low} to {high}", field=name)
    value = int(text)
    if not low <= value <= high:
        raise Unprocessable(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


@bp.get("")
@openapi.summary("Your questions, newest first")
@openapi.secured("bearer")
@openapi.parameter(
    "limit",
    _Integer(minimum=1, maximum=MAX_PAGE, default=DEFAULT_PAGE),
    "query",
    description=f"page size, 1 to {MAX_PAGE}",
)
@openapi.parameter(
    "offset",
    _Integer(minimum=0, maximum=MAX_OFFSET, default=0),
    "query",
    description="questions to skip",
)
@openapi.response(200, {"application/json": {"schema": _PAGE}}, "a page of your questions")
@openapi.response(401, ERROR, "no valid access token")
@openapi.response(403, ERROR, "not a student, or guardian consent is pending")
@openapi.response(422, ERROR, "limit or offset out of range")
@audited("data.read", "question")
async def list_questions(request: Request) -> HTTPResponse:
    """Your own questions, decrypted, a page at a time; ``next_offset`` is null on the last."""
    principal = await require(request, "student")
    audit_spec(request).resource_id = principal.pseudonym
    limit = _page_arg(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = _page_arg(request, "offset", 0, 0, MAX_OFFSET)
    ctx = request.app.ctx
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["list_questions"], principal.subject_id, limit + 1, offset)
    more = len(rows) > limit
    return JSONResponse(
        {
            "questions": [_question_json(ctx.cipher, row) for row in rows[:limit]],
            "next_offset": offset + limit if more else None,
        }
    )

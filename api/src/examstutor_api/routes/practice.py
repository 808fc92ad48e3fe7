"""``/v1/practice``: exam practice on the shipped question bank.

* ``GET /exams`` is public: the catalogue holds no personal data and is not audited.
* ``POST /sessions`` draws questions (never their answers) and stores which ones.
* ``POST /sessions/{id}/answers`` marks a session once, in one transaction:
  the answers, the score and ``completed_at``; a second submission is 409.
* ``GET /history`` lists the student's own sessions, newest first.

A session belongs to the student who drew it: another student's session is
404, exactly like one that does not exist.
"""

from __future__ import annotations

import random
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
from examstutor_api.practice import QuestionBank, SelectionError, load_bank
from examstutor_api.routes.schemas import ERROR as _JSON_ERROR
from examstutor_platform.db.queries import load_queries

__all__ = ["bp"]

bp = Blueprint("practice", url_prefix="/practice")

Q = load_queries("examstutor_api.queries", "practice.sql")
#: sanic-ext's schema classes are untyped: typed handles for mypy --strict
_Integer: Callable[..., oas.Schema] = oas.Integer
MAX_QUESTIONS = 50
MAX_ID_LENGTH = 64
HISTORY_DEFAULT, HISTORY_MAX = 50, 200
_rng = random.SystemRandom()


def _id_problem(value: str) -> str | None:
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        return f"must be 1 to {MAX_ID_LENGTH} characters"
    return None


def _count_problem(value: int) -> str | None:
    if not 1 <= value <= MAX_QUESTIONS:
        return f"must be 1 to {MAX_QUESTIONS}"
    return None


def _choice_problem(value: str) -> str | None:
    if len(value.strip()) != 1:
        return "must be one letter, like A"
    return None


def _answers_problem(value: list[Any]) -> str | None:
    if not 1 <= len(value) <= MAX_QUESTIONS:
        return f"must hold 1 to {MAX_QUESTIONS} answers"
    return None


# ---------------------------------------------------------------- bodies and answers


#: the exams and subjects the shipped bank offers, as the OpenAPI document lists them
_EXAMS = sorted(exam.id for exam in load_bank().exams())
_SUBJECTS = sorted({subject.id for exam in load_bank().exams() for subject in exam.subjects})


@dataclass(frozen=True)
class SessionBody:
    """Draw ``num_questions`` questions of one exam and subject (no more than it holds)."""

    exam: str = constrain(_id_problem, schema={"enum": _EXAMS})
    subject: str = constrain(_id_problem, schema={"enum": _SUBJECTS})
    num_questions: int = constrain(_count_problem, schema={"minimum": 1, "maximum": MAX_QUESTIONS})


@dataclass(frozen=True)
class AnswerItem:
    """The choice (a letter, any case) given for one question of the session."""

    question_id: str = constrain(_id_problem, schema={"minLength": 1, "maxLength": MAX_ID_LENGTH})
    choice: str = constrain(_choice_problem, schema={"pattern": r"^\s*\S\s*$"})


@dataclass(frozen=True)
class AnswersBody:
    """The answers to a session; a question left out counts as wrong."""

    answers: list[AnswerItem] = constrain(  # noqa: RUF009 (no default)
        _answers_problem, schema={"minItems": 1, "maxItems": MAX_QUESTIONS}
    )


@dataclass(frozen=True)
class SubjectEntry:
    """A subject and how many questions the bank holds for it."""

    id: str
    name: str
    questions: int


@dataclass(frozen=True)
class ExamEntry:
    """An exam and its subjects."""

    id: str
    name: str
    subjects: list[SubjectEntry]


@dataclass(frozen=True)
class CatalogueAnswer:
    """The question bank's exams and subjects."""

    exams: list[ExamEntry]
    bank_version: str


@dataclass(frozen=True)
class PublicQuestionEntry:
    """A question without its answer."""

    id: str
    exam: str
    subject: str
    topic: str
    stem: str
    choices: dict[str, str]


@dataclass(frozen=True)
class SessionAnswer:
    """A new session and its questions (no answers)."""

    session_id: str
    exam: str
    subject: str
    num_questions: int
    questions: list[PublicQuestionEntry]
    created_at: str


@dataclass(frozen=True)
class CorrectionEntry:
    """One marked question."""

    question_id: str
    your_choice: str | None
    correct: bool
    answer: str
    answer_text: str
    explanation: str


@dataclass(frozen=True)
class ScoreAnswer:
    """The marked session."""

    session_id: str
    score: int
    total: int
    percent: float
    completed_at: str
    questions: list[CorrectionEntry]


@dataclass(frozen=True)
class HistoryEntry:
    """One of the student's sessions; ``score`` and ``percent`` are null until answered."""

    session_id: str
    exam: str
    subject: str
    num_questions: int
    score: int | None
    percent: float | None
    created_at: str
    completed_at: str | None


@dataclass(frozen=True)
class HistoryAnswer:
    """The student's sessions, newest first."""

    sessions: list[HistoryEntry]


# ---------------------------------------------------------------- routes


@bp.get("/exams")
@openapi.summary("Exams and subjects of the practice question bank")
@openapi.description("Public: no sign-in, no personal data. Counts questions per subject.")
@openapi.response(200, {"application/json": CatalogueAnswer}, "The catalogue")
async def exams(request: Request) -> HTTPResponse:
    """The catalogue of exams and subjects."""
    bank = load_bank()
    return JSONResponse({"exams": bank.catalogue(), "bank_version": bank.version})


def _pick(bank: QuestionBank, body: SessionBody) -> list[Any]:
    try:
        exam = bank.exam(body.exam)
    except SelectionError as exc:
        raise Unprocessable(f"exam: {exc}", field="exam") from None
    try:
        exam.subject(body.subject)
    except SelectionError as exc:
        raise Unprocessable(f"subject: {exc}", field="subject") from None
    try:
        return bank.pick(body.exam, body.subject, body.num_questions, _rng)
    except SelectionError as exc:
        raise Unprocessable(f"num_questions: {exc}", field="num_questions") from None


@bp.post("/sessions")
@openapi.summary("Start a practice session")
@openapi.description(
    "201 with `num_questions` questions of the exam and subject, drawn at random, without "
    "answers. 422 names `exam`, `subject` or `num_questions` (1 to 50, and no more than the "
    "subject holds)."
)
@openapi.secured("bearer")
@openapi.body(json_body(SessionBody), required=True)
@openapi.response(201, {"application/json": SessionAnswer}, "The session and its questions")
@openapi.response(401, _JSON_ERROR, "Not signed in")
@openapi.response(403, _JSON_ERROR, "Not a student, or guardian consent is pending")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@audited("student.practice", "practice_session")
async def start_session(request: Request) -> HTTPResponse:
    """Draw questions and store which ones were asked."""
    principal = await require(request, "student")
    body = parse_body(request, SessionBody)
    questions = _pick(load_bank(), body)
    session_id = uuid.uuid4()
    async with request.app.ctx.pool.acquire() as conn:
        created_at = await conn.fetchval(
            Q["insert_session"],
            session_id,
            principal.subject_id,
            body.exam,
            body.subject,
            [q.id for q in questions],
            len(questions),
        )
    spec = audit_spec(request)
    spec.resource_id = str(session_id)
    spec.details = {
        "operation": "start",
        "exam": body.exam,
        "subject": body.subject,
        "num_questions": len(questions),
    }
    return JSONResponse(
        {
            "session_id": str(session_id),
            "exam": body.exam,
            "subject": body.subject,
            "num_questions": len(questions),
            "questions": [q.public() for q in questions],
            "created_at": created_at.isoformat(),
        },
        status=201,
    )


def _answer_map(body: AnswersBody, asked: list[str], bank: QuestionBank) -> dict[str, str]:
    """question id → normalised choice, each checked against the session's questions."""
    chosen: dict[str, str] = {}
    for position, item in enumerate(body.answers):
        where = f"answers[{position}]"
        if item.question_id not in asked:
            raise Unprocessable(
                f"{where}.question_id: question {item.question_id!r} is not in this session",
                field=f"{where}.question_id",
            )
        if item.question_id in chosen:
            raise Unprocessable(
                f"{where}.question_id: question {item.question_id!r} is answered twice",
                field=f"{where}.question_id",
            )
        choice = item.choice.strip().upper()
        question = bank.get(item.question_id)
        if question is None or choice not in question.choice_keys:
            valid = ", ".join(question.choice_keys) if question else "none"
            raise Unprocessable(
                f"{where}.choice: {choice!r} is not one of {valid}", field=f"{where}.choice"
            )
        chosen[item.question_id] = choice
    return chosen


@bp.post("/sessions/<session_id:uuid>/answers")
@openapi.summary("Answer a practice session and get the score and corrections")
@openapi.description(
    "Marks the session once: a question left out counts as wrong, choices are letters in "
    "any case. 404 for a session that is not yours, 409 `session_completed` when it was "
    "already answered, 422 for a question that is not in the session or a choice it does "
    "not offer."
)
@openapi.secured("bearer")
@openapi.body(json_body(AnswersBody), required=True)
@openapi.response(200, {"application/json": ScoreAnswer}, "The score and the corrections")
@openapi.response(401, _JSON_ERROR, "Not signed in")
@openapi.response(403, _JSON_ERROR, "Not a student, or guardian consent is pending")
@openapi.response(404, _JSON_ERROR, "No such session of yours")
@openapi.response(409, _JSON_ERROR, "The session was already answered")
@openapi.response(422, _JSON_ERROR, "A field is invalid; `field` names it")
@audited("student.practice", "practice_session")
async def answer_session(request: Request, session_id: uuid.UUID) -> HTTPResponse:
    """Store the answers, the score and the completion time in one transaction."""
    principal = await require(request, "student")
    spec = audit_spec(request)
    spec.resource_id = str(session_id)
    spec.details = {"operation": "answer"}
    body = parse_body(request, AnswersBody)
    bank = load_bank()
    async with audited_transaction(request) as conn:
        row = await conn.fetchrow(Q["own_session_for_update"], session_id, principal.subject_id)
        if row is None:
            raise NotFound("no such practice session", code="session_not_found")
        if row["completed_at"] is not None:
            raise Conflict("this practice session was already answered", code="session_completed")
        asked: list[str] = list(row["question_ids"])
        chosen = _answer_map(body, asked, bank)
        try:
            result = bank.score(asked, chosen)
        except SelectionError as exc:  # a question withdrawn from the bank since
            raise Conflict(str(exc), code="question_withdrawn") from None
        await conn.executemany(
            Q["insert_answer"],
            [
                (session_id, r.question_id, r.your_choice, r.correct)
                for r in result.questions
                if r.your_choice is not None
            ],
        )
        completed_at = await conn.fetchval(Q["complete_session"], session_id, result.correct)
        spec.details = {
            "operation": "answer",
            "score": result.correct,
            "total": result.total,
            "answered": len(chosen),
        }
    return JSONResponse(
        {
            "session_id": str(session_id),
            "score": result.correct,
            "total": result.total,
            "percent": result.percent,
            "completed_at": completed_at.isoformat(),
            "questions": [
                {
                    "question_id": r.question_id,
                    "your_choice": r.your_choice,
                    "correct": r.correct,
                    "answer": r.answer,
                    "answer_text": r.answer_text,
                    "explanation": r.explanation,
                }
                for r in result.questions
            ],
        }
    )


def _percent(score: int | None, total: int) -> float | None:
    return None if score is None else round(100 * score / total, 1)


@bp.get("/history")
@openapi.summary("Your practice sessions and scores, newest first")
@openapi.secured("bearer")
@openapi.parameter(
    "limit",
    _Integer(minimum=1, maximum=HISTORY_MAX, default=HISTORY_DEFAULT),
    "query",
    description=f"how many sessions, 1 to {HISTORY_MAX}",
)
@openapi.response(200, {"application/json": HistoryAnswer}, "Your sessions")
@openapi.response(401, _JSON_ERROR, "Not signed in")
@openapi.response(403, _JSON_ERROR, "Not a student, or guardian consent is pending")
@openapi.response(422, _JSON_ERROR, "`limit` is invalid")
@audited("data.read", "practice_session")
async def history(request: Request) -> HTTPResponse:
    """The student's own sessions with their scores."""
    principal = await require(request, "student")
    spec = audit_spec(request)
    spec.resource_id = principal.pseudonym
    limit = query_int(request, "limit", HISTORY_DEFAULT, 1, HISTORY_MAX)
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["own_history"], principal.subject_id, limit)
    spec.details = {"operation": "history", "sessions": len(rows)}
    return JSONResponse(
        {
            "sessions": [
                {
                    "session_id": str(row["id"]),
                    "exam": row["exam"],
                    "subject": row["subject"],
                    "num_questions": row["num_questions"],
                    "score": row["score"],
                    "percent": _percent(row["score"], row["num_questions"]),
                    "created_at": row["created_at"].isoformat(),
                    "completed_at": row["completed_at"].isoformat()
                    if row["completed_at"]
                    else None,
                }
                for row in rows
            ]
        }
    )

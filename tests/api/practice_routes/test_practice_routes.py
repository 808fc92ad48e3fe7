"""``/v1/practice``: the catalogue, a session from draw to score, history, who may do what."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from examstutor_accounts import Account, Accounts, audit_count, audit_events
from examstutor_testing import LiveApi

from examstutor_api.practice import Question, load_bank

SESSIONS = "/v1/practice/sessions"


def rid() -> dict[str, str]:
    """A fresh request id header, to find the request's audit events."""
    return {"X-Request-ID": uuid.uuid4().hex}


async def start(api: LiveApi, who: Account, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"exam": "waec", "subject": "mathematics", "num_questions": 5}
    body.update(overrides)
    response = await api.client.post(SESSIONS, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def bank_question(question_id: str) -> Question:
    found = load_bank().get(question_id)
    assert found is not None
    return found


async def fetch(api: LiveApi, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(api.database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows
    finally:
        await conn.close()


async def test_catalogue_is_public_and_not_audited(api: LiveApi) -> None:
    headers = rid()
    response = await api.client.get("/v1/practice/exams", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["bank_version"] == load_bank().version
    exams = {exam["id"]: exam for exam in body["exams"]}
    assert set(exams) == {"waec", "jamb"}
    subjects = {s["id"]: s["questions"] for s in exams["waec"]["subjects"]}
    assert subjects["mathematics"] == len(load_bank().questions_for("waec", "mathematics"))
    assert await audit_count(api.database_url, headers["X-Request-ID"]) == 0


async def test_full_flow_draw_answer_score_history(api: LiveApi, accounts: Accounts) -> None:
    student = await accounts.student()
    session = await start(api, student)
    assert session["exam"] == "waec" and session["num_questions"] == 5
    questions = session["questions"]
    assert len(questions) == 5 == len({q["id"] for q in questions})
    for question in questions:
        assert set(question) == {"id", "exam", "subject", "topic", "stem", "choices"}
    truth = {q["id"]: bank_question(q["id"]) for q in questions}
    ids = [q["id"] for q in questions]
    wrong = next(k for k in questions[3]["choices"] if k != truth[ids[3]].answer)
    answers = [
        {"question_id": ids[0], "choice": truth[ids[0]].answer.lower()},
        {"question_id": ids[1], "choice": f" {truth[ids[1]].answer} "},
        {"question_id": ids[2], "choice": truth[ids[2]].answer},
        {"question_id": ids[3], "choice": wrong},
    ]  # the fifth is left out: it counts as wrong
    headers = {**student.headers, **rid()}
    url = f"{SESSIONS}/{session['session_id']}/answers"
    scored = await api.client.post(url, json={"answers": answers}, headers=headers)
    assert scored.status_code == 200, scored.text
    result = scored.json()
    assert (result["score"], result["total"], result["percent"]) == (3, 5, 60.0)
    marked = {q["question_id"]: q for q in result["questions"]}
    assert [q["question_id"] for q in result["questions"]] == ids
    assert marked[ids[0]]["your_choice"] == truth[ids[0]].answer
    assert marked[ids[0]]["correct"] is True
    assert marked[ids[3]]["correct"] is False
    assert marked[ids[4]] | {"explanation": None} == {
        "question_id": ids[4],
        "your_choice": None,
        "correct": False,
        "answer": truth[ids[4]].answer,
        "answer_text": truth[ids[4]].choice_text(truth[ids[4]].answer),
        "explanation": None,
    }
    events = await audit_events(api.database_url, headers["X-Request-ID"])
    assert [(e["action"], e["resource"], e["outcome"]) for e in events] == [
        ("student.practice", "practice_session", "success")
    ]
    assert events[0]["actor_pseudonym"] == student.pseudonym
    assert events[0]["resource_id"] == session["session_id"]

    stored = await fetch(
        api,
        "SELECT question_id, choice, correct FROM practice_answers WHERE session_id = $1",
        uuid.UUID(session["session_id"]),
    )
    assert {(r["question_id"], r["choice"], r["correct"]) for r in stored} == {
        (a["question_id"], a["choice"].strip().upper(), i < 3) for i, a in enumerate(answers)
    }
    again = await api.client.post(url, json={"answers": answers}, headers=student.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "session_completed"

    later = await start(api, student, exam="jamb", subject="physics", num_questions=2)
    headers = {**student.headers, **rid()}
    history = await api.client.get("/v1/practice/history", headers=headers)
    assert history.status_code == 200
    sessions = history.json()["sessions"]
    assert [s["session_id"] for s in sessions] == [later["session_id"], session["session_id"]]
    assert sessions[0]["score"] is None and sessions[0]["completed_at"] is None
    assert (sessions[1]["score"], sessions[1]["percent"], sessions[1]["num_questions"]) == (
        3,
        60.0,
        5,
    )
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["action"], event["resource"]) == ("data.read", "practice_session")
    assert event["resource_id"] == student.pseudonym


async def test_another_students_session_is_404(api: LiveApi, accounts: Accounts) -> None:
    alice, bola = await accounts.student(), await accounts.student()
    session = await start(api, alice)
    qid = session["questions"][0]["id"]
    body = {"answers": [{"question_id": qid, "choice": "A"}]}
    url = f"{SESSIONS}/{session['session_id']}/answers"
    headers = {**bola.headers, **rid()}
    stolen = await api.client.post(url, json=body, headers=headers)
    assert stolen.status_code == 404
    assert stolen.json()["error"]["code"] == "session_not_found"
    (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
    assert (event["actor_pseudonym"], event["outcome"]) == (bola.pseudonym, "failure")
    unknown = await api.client.post(
        f"{SESSIONS}/{uuid.uuid4()}/answers", json=body, headers=alice.headers
    )
    assert unknown.status_code == 404
    history = await api.client.get("/v1/practice/history", headers=bola.headers)
    assert history.json() == {"sessions": []}
    mine = await api.client.post(url, json=body, headers=alice.headers)
    assert mine.status_code == 200, "B's attempt must not have completed A's session"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"exam": "neco", "subject": "mathematics", "num_questions": 5}, "exam"),
        ({"exam": "waec", "subject": "latin", "num_questions": 5}, "subject"),
        ({"exam": "waec", "subject": "mathematics", "num_questions": 0}, "num_questions"),
        ({"exam": "waec", "subject": "mathematics", "num_questions": 51}, "num_questions"),
        ({"exam": "waec", "subject": "mathematics", "num_questions": 11}, "num_questions"),
        ({"exam": "waec", "subject": "mathematics", "num_questions": "5"}, "num_questions"),
        ({"exam": "waec", "subject": "mathematics"}, "num_questions"),
        ({"exam": "'; DROP TABLE students; --", "subject": "x", "num_questions": 1}, "exam"),
        ({"exam": "wáec\u202e", "subject": "mathematics", "num_questions": 1}, "exam"),
        (
            {"exam": "waec", "subject": "mathematics", "num_questions": 1, "extra": 1},
            "extra",
        ),
    ],
)
async def test_invalid_session_requests_are_422(
    api: LiveApi, accounts: Accounts, body: dict[str, Any], field: str
) -> None:
    student = await accounts.student()
    response = await api.client.post(SESSIONS, json=body, headers=student.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await fetch(api, "SELECT id FROM practice_sessions") == []


async def test_malformed_bodies(api: LiveApi, accounts: Accounts) -> None:
    student = await accounts.student()
    as_text = await api.client.post(
        SESSIONS, content=b"exam=waec", headers={**student.headers, "Content-Type": "text/plain"}
    )
    assert as_text.status_code == 415
    broken = await api.client.post(
        SESSIONS,
        content=b'{"exam": "waec",',
        headers={**student.headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "malformed_json"
    listed = await api.client.post(SESSIONS, json=["waec"], headers=student.headers)
    assert listed.status_code == 400


async def test_invalid_answers_write_nothing(api: LiveApi, accounts: Accounts) -> None:
    student = await accounts.student()
    session = await start(api, student, num_questions=2)
    url = f"{SESSIONS}/{session['session_id']}/answers"
    first, second = (q["id"] for q in session["questions"])
    outside = next(
        q.id
        for q in load_bank().questions_for("waec", "mathematics")
        if q.id not in (first, second)
    )
    cases: list[tuple[Any, str]] = [
        ({"answers": []}, "answers"),
        ({"answers": [{"question_id": outside, "choice": "A"}]}, "answers[0].question_id"),
        (
            {
                "answers": [
                    {"question_id": first, "choice": "A"},
                    {"question_id": first, "choice": "B"},
                ]
            },
            "answers[1].question_id",
        ),
        ({"answers": [{"question_id": second, "choice": "Z"}]}, "answers[0].choice"),
        ({"answers": [{"question_id": second, "choice": "AB"}]}, "answers[0].choice"),
        ({"answers": [{"question_id": second}]}, "answers[0].choice"),
        ({"answers": [{"question_id": second, "choice": 1}]}, "answers[0].choice"),
        ({"answers": "A"}, "answers"),
    ]
    for body, field in cases:
        response = await api.client.post(url, json=body, headers=student.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field, body
    assert await fetch(api, "SELECT 1 FROM practice_answers") == []
    (row,) = await fetch(api, "SELECT score, completed_at FROM practice_sessions")
    assert (row["score"], row["completed_at"]) == (None, None)


@pytest.mark.parametrize("who", ["anonymous", "pending", "auditor", "steward", "admin"])
async def test_only_active_students_practise(api: LiveApi, accounts: Accounts, who: str) -> None:
    owner = await accounts.student()
    session = await start(api, owner)
    caller: Account | None
    if who == "anonymous":
        caller = None
    elif who == "pending":
        caller = await accounts.student(status="pending_guardian_consent")
    else:
        caller = await accounts.staff(who)
    expected = 401 if caller is None else 403
    auth = caller.headers if caller else {}
    body = {"answers": [{"question_id": session["questions"][0]["id"], "choice": "A"}]}
    requests = [
        ("POST", SESSIONS, {"exam": "waec", "subject": "mathematics", "num_questions": 1}),
        ("POST", f"{SESSIONS}/{session['session_id']}/answers", body),
        ("GET", "/v1/practice/history", None),
    ]
    for method, url, payload in requests:
        headers = {**auth, **rid()}
        response = await api.client.request(method, url, json=payload, headers=headers)
        assert response.status_code == expected, (url, response.text)
        (event,) = await audit_events(api.database_url, headers["X-Request-ID"])
        assert event["outcome"] == "denied"
        assert event["actor_pseudonym"] == (caller.pseudonym if caller else "anonymous")
    if who == "pending":
        assert response.json()["error"]["code"] == "guardian_consent_required"
    catalogue = await api.client.get("/v1/practice/exams", headers=auth)
    assert catalogue.status_code == 200

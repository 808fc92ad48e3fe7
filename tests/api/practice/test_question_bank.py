"""The shipped question bank validates; picking and scoring; malformed banks name id and field."""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter
from importlib import resources
from typing import Any

import pytest

from examstutor_api.practice import (
    FORMAT,
    SHIPPED_SOURCE,
    Exam,
    PracticeError,
    Question,
    QuestionBank,
    QuestionBankError,
    SelectionError,
    Subject,
    load_bank,
    parse_bank,
)

# ---------------------------------------------------------------- the shipped bank


def test_shipped_bank_is_package_data_and_loads() -> None:
    resource = resources.files("examstutor_api.practice") / "question_bank.json"
    assert resource.is_file()
    bank = load_bank()
    assert bank is load_bank()  # cached
    assert bank.source == SHIPPED_SOURCE
    assert re.fullmatch(r"[0-9a-f]{64}", bank.version)
    assert json.loads(resource.read_text(encoding="utf-8"))["format"] == FORMAT


def test_shipped_bank_counts() -> None:
    bank = load_bank()
    exams = bank.exams()
    assert len(bank) >= 72
    assert len(exams) >= 2
    assert {exam.id for exam in exams} >= {"waec", "jamb"}
    names = {exam.id: exam.name for exam in exams}
    assert names["waec"] == "WAEC (WASSCE)"
    assert names["jamb"] == "JAMB (UTME)"
    for exam in exams:
        assert len(exam.subjects) >= 3
        assert {s.id for s in exam.subjects} >= {"mathematics", "english", "physics", "biology"}
        for subject in exam.subjects:
            assert len(bank.questions_for(exam.id, subject.id)) >= 9, (exam.id, subject.id)
    per_pair = Counter((q.exam, q.subject) for q in bank.questions)
    assert sum(per_pair.values()) == len(bank)


def test_shipped_questions_are_well_formed() -> None:
    bank = load_bank()
    ids = [q.id for q in bank.questions]
    assert len(ids) == len(set(ids))
    for question in bank.questions:
        assert question.id.startswith(f"{question.exam}-{question.subject}-")
        assert question.choice_keys == ("A", "B", "C", "D")
        assert question.answer in question.choice_keys
        texts = [text for _, text in question.choices]
        assert len(set(texts)) == len(texts)
        assert question.topic.strip()
        assert question.stem.strip()
        assert question.explanation.strip()
        assert bank.get(question.id) is question


def test_catalogue_lists_exams_subjects_and_counts() -> None:
    bank = load_bank()
    catalogue = bank.catalogue()
    assert [exam["id"] for exam in catalogue] == [exam.id for exam in bank.exams()]
    waec = catalogue[0]
    maths = next(s for s in waec["subjects"] if s["id"] == "mathematics")
    assert maths["name"] == "Mathematics"
    assert maths["questions"] == len(bank.questions_for("waec", "mathematics"))
    json.dumps(catalogue)


# ---------------------------------------------------------------- public form


def test_public_form_hides_answer_and_explanation() -> None:
    question = load_bank().questions[0]
    public = question.public()
    assert set(public) == {"id", "exam", "subject", "topic", "stem", "choices"}
    assert public["choices"] == dict(question.choices)
    text = json.dumps(public, ensure_ascii=False)
    assert "answer" not in text
    assert question.explanation not in text


# ---------------------------------------------------------------- picking


def test_pick_has_no_repeats_and_stays_in_exam_and_subject() -> None:
    bank = load_bank()
    available = len(bank.questions_for("jamb", "physics"))
    picked = bank.pick("jamb", "physics", available, random.Random(7))
    assert len({q.id for q in picked}) == available
    assert all(q.exam == "jamb" and q.subject == "physics" for q in picked)


def test_pick_is_deterministic_with_a_seeded_rng() -> None:
    bank = load_bank()
    first = [q.id for q in bank.pick("waec", "biology", 5, random.Random(2026))]
    second = [q.id for q in bank.pick("waec", "biology", 5, random.Random(2026))]
    assert first == second
    draws = {
        tuple(q.id for q in bank.pick("waec", "biology", 5, random.Random(seed)))
        for seed in range(20)
    }
    assert len(draws) > 1


def test_pick_more_than_available_is_a_clear_error() -> None:
    bank = load_bank()
    available = len(bank.questions_for("waec", "physics"))
    with pytest.raises(
        ValueError, match=rf"has {available} questions; cannot pick {available + 1}"
    ):
        bank.pick("waec", "physics", available + 1, random.Random(0))
    with pytest.raises(SelectionError, match="at least 1"):
        bank.pick("waec", "physics", 0, random.Random(0))


def test_unknown_exam_or_subject_lists_the_valid_ones() -> None:
    bank = load_bank()
    with pytest.raises(SelectionError, match=r"no exam 'neco'; exams: waec, jamb"):
        bank.pick("neco", "physics", 1, random.Random(0))
    with pytest.raises(SelectionError, match=r"no subject 'chemistry'; subjects: mathematics"):
        bank.questions_for("waec", "chemistry")
    assert bank.get("waec-chemistry-001") is None


# ---------------------------------------------------------------- scoring


def test_score_known_answers() -> None:
    bank = load_bank()
    # 213 in base four is 39 (C); sin θ = 3/5 gives tan θ = 3/4 (A); 2/15 (D) for two reds
    ids = ["waec-mathematics-006", "waec-mathematics-008", "waec-mathematics-009"]
    result = bank.score(ids, {"waec-mathematics-006": "C", "waec-mathematics-008": "B"})
    assert (result.correct, result.total, result.percent) == (1, 3, 33.3)
    base, trig, probability = result.questions
    assert (base.question_id, base.your_choice, base.answer, base.correct) == (
        ids[0],
        "C",
        "C",
        True,
    )
    assert base.answer_text == "39"
    assert (trig.your_choice, trig.answer, trig.correct) == ("B", "A", False)
    assert trig.answer_text == "3/4"
    assert (probability.your_choice, probability.answer, probability.correct) == (None, "D", False)
    asked = bank.get(ids[2])
    assert asked is not None
    assert probability.explanation == asked.explanation
    document = result.as_dict()
    assert document["correct"] == 1 and document["total"] == 3
    assert document["questions"][1] == {
        "question_id": "waec-mathematics-008",
        "your_choice": "B",
        "answer": "A",
        "answer_text": "3/4",
        "correct": False,
        "explanation": trig.explanation,
    }


def test_score_all_correct_from_the_bank_itself() -> None:
    bank = load_bank()
    picked = bank.pick("jamb", "english", 9, random.Random(3))
    result = bank.score([q.id for q in picked], {q.id: q.answer for q in picked})
    assert (result.correct, result.total, result.percent) == (9, 9, 100.0)
    assert [r.question_id for r in result.questions] == [q.id for q in picked]


@pytest.mark.parametrize(
    ("ids", "answers", "message"),
    [
        ([], {}, "no questions to score"),
        (["waec-mathematics-999"], {}, "no question 'waec-mathematics-999'"),
        (["waec-mathematics-001"] * 2, {}, "listed twice"),
        (["waec-mathematics-001"], {"waec-mathematics-002": "A"}, "was not asked"),
        (["waec-mathematics-001"], {"waec-mathematics-001": "E"}, r"'E' is not one of A, B, C, D"),
    ],
)
def test_score_refuses_bad_input(ids: list[str], answers: dict[str, str], message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        load_bank().score(ids, answers)


# ---------------------------------------------------------------- malformed banks


def _question(number: int = 1, **changes: Any) -> dict[str, Any]:
    question: dict[str, Any] = {
        "id": f"waec-mathematics-{number:03d}",
        "exam": "waec",
        "subject": "mathematics",
        "topic": "Arithmetic",
        "stem": f"What is {number} + 1?",
        "choices": {"A": str(number), "B": str(number + 1), "C": str(number + 2), "D": "0.5"},
        "answer": "B",
        "explanation": f"{number} + 1 = {number + 1}.",
    }
    question.update(changes)
    return question


def _bank(questions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "exams": [
            {
                "id": "waec",
                "name": "WAEC (WASSCE)",
                "subjects": [{"id": "mathematics", "name": "Maths"}],
            }
        ],
        "questions": questions if questions is not None else [_question(1), _question(2)],
    }


def test_a_minimal_bank_parses() -> None:
    bank = parse_bank(json.dumps(_bank()), "mini.json")
    assert isinstance(bank, QuestionBank)
    assert len(bank) == 2
    assert bank.exams() == (Exam("waec", "WAEC (WASSCE)", (Subject("mathematics", "Maths"),)),)
    assert bank.get("waec-mathematics-002") == Question(
        id="waec-mathematics-002",
        exam="waec",
        subject="mathematics",
        topic="Arithmetic",
        stem="What is 2 + 1?",
        choices=(("A", "2"), ("B", "3"), ("C", "4"), ("D", "0.5")),
        answer="B",
        explanation="2 + 1 = 3.",
    )


def _broken_question(**changes: Any) -> dict[str, Any]:
    return _bank([_question(1), _question(2, **changes)])


def _without(key: str) -> dict[str, Any]:
    question = _question(2)
    del question[key]
    return _bank([_question(1), question])


@pytest.mark.parametrize(
    ("document", "where", "field", "problem"),
    [
        (_bank([_question(1), _question(1)]), "waec-mathematics-001", "id", "listed twice"),
        (_broken_question(answer="E"), "waec-mathematics-002", "answer", "'E' is not one of"),
        (_broken_question(answer="b"), "waec-mathematics-002", "answer", "not one of A, B, C, D"),
        (
            _broken_question(id="neco-mathematics-002", exam="neco"),
            "neco-mathematics-002",
            "exam",
            "unknown exam 'neco'; exams: waec",
        ),
        (
            _broken_question(id="waec-chemistry-002", subject="chemistry"),
            "waec-chemistry-002",
            "subject",
            "no subject 'chemistry'",
        ),
        (
            _broken_question(choices={"A": "1", "B": "2", "C": "3"}),
            "waec-mathematics-002",
            "choices",
            "has 3; a question needs at least 4",
        ),
        (
            _broken_question(choices={"A": "1", "B": "2", "C": "2", "D": "4"}),
            "waec-mathematics-002",
            "choices",
            "B and C are the same",
        ),
        (
            _broken_question(choices={"A": "1", "B": "2", "D": "3", "E": "4"}),
            "waec-mathematics-002",
            "choices",
            "keys must be A, B, C, D",
        ),
        (
            _broken_question(choices={"A": "1", "B": "2", "C": "3", "Z": "4"}),
            "waec-mathematics-002",
            "choices.Z",
            "unknown field",
        ),
        (
            _broken_question(choices={"A": "1", "B": 2, "C": "3", "D": "4"}),
            "waec-mathematics-002",
            "choices.B",
            "must be text",
        ),
        (
            _broken_question(id="jamb-mathematics-002"),
            "jamb-mathematics-002",
            "id",
            "'waec-mathematics-'",
        ),
        (_broken_question(id="waec-maths-002"), "waec-maths-002", "id", "'waec-mathematics-'"),
        (_broken_question(id="waec-mathematics-x"), "waec-mathematics-x", "id", "number like 001"),
        (_broken_question(stem="   "), "waec-mathematics-002", "stem", "must not be empty"),
        (_broken_question(hint="think"), "waec-mathematics-002", "hint", "unknown field"),
        (_without("explanation"), "waec-mathematics-002", "explanation", "missing"),
        (_without("choices"), "waec-mathematics-002", "choices", "missing"),
        (_broken_question(topic=7), "waec-mathematics-002", "topic", "must be text"),
    ],
)
def test_malformed_question_names_id_and_field(
    document: dict[str, Any], where: str, field: str, problem: str
) -> None:
    with pytest.raises(QuestionBankError) as caught:
        parse_bank(json.dumps(document), "broken.json")
    message = str(caught.value)
    assert message.startswith("broken.json: ")
    assert f"question {where!r}: field {field!r}: " in message
    assert problem in message
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, PracticeError)


def test_question_without_an_id_is_named_by_position() -> None:
    document = _without("id")
    with pytest.raises(ValueError, match=r"questions\[1\]: field 'id': missing"):
        parse_bank(json.dumps(document))


def test_duplicate_json_keys_are_not_silently_dropped() -> None:
    text = json.dumps(_bank()).replace('"answer": "B"', '"answer": "A", "answer": "B"', 1)
    with pytest.raises(
        QuestionBankError, match=r"question 'waec-mathematics-001': field 'answer': is given twice"
    ):
        parse_bank(text)
    text = json.dumps(_bank()).replace('"A": "2"', '"A": "2", "A": "9"', 1)
    with pytest.raises(
        QuestionBankError,
        match=r"question 'waec-mathematics-002': field 'choices.A': is given twice",
    ):
        parse_bank(text)


def test_malformed_exams_and_document() -> None:
    document = _bank()
    document["exams"][0]["subjects"].append({"id": "physics", "name": "Physics"})
    with pytest.raises(QuestionBankError, match=r"exam 'waec': field 'subjects': 'physics' has no"):
        parse_bank(json.dumps(document))

    document = _bank()
    document["exams"].append(copy.deepcopy(document["exams"][0]))
    with pytest.raises(QuestionBankError, match=r"exam 'waec': field 'id': is listed twice"):
        parse_bank(json.dumps(document))

    document = _bank()
    document["exams"][0]["subjects"].append({"id": "mathematics", "name": "Again"})
    with pytest.raises(QuestionBankError, match=r"'mathematics' is listed twice"):
        parse_bank(json.dumps(document))

    document = _bank()
    document["format"] = "examstutor-question-bank/0"
    with pytest.raises(QuestionBankError, match=r"field 'format'"):
        parse_bank(json.dumps(document))

    document = _bank([])
    with pytest.raises(QuestionBankError, match=r"field 'questions': must be a non-empty"):
        parse_bank(json.dumps(document))

    with pytest.raises(QuestionBankError, match=r"x.json: not valid JSON"):
        parse_bank("{", "x.json")
    with pytest.raises(QuestionBankError, match=r"must be a JSON object"):
        parse_bank("[]")


def test_question_is_validated_when_built_directly() -> None:
    with pytest.raises(QuestionBankError, match=r"question 'waec-physics-001': field 'answer'"):
        Question(
            id="waec-physics-001",
            exam="waec",
            subject="physics",
            topic="Waves",
            stem="v = fλ; f = 50 Hz, λ = 4 m. v = ?",
            choices=(("A", "12.5 m/s"), ("B", "46 m/s"), ("C", "54 m/s"), ("D", "200 m/s")),
            answer="E",
            explanation="v = 50 × 4 = 200 m/s.",
        )

"""The practice question bank: exams, subjects and multiple-choice questions shipped as data.

The bank is ``question_bank.json`` beside this module (:func:`load_bank`), or any
text given to :func:`parse_bank`::

    {"format": "examstutor-question-bank/1",
     "exams": [{"id": "waec", "name": "WAEC (WASSCE)",
                "subjects": [{"id": "mathematics", "name": "Mathematics"}]}],
     "questions": [{"id": "waec-mathematics-001", "exam": "waec", "subject": "mathematics",
                    "topic": "Indices", "stem": "Simplify …",
                    "choices": {"A": "…", "B": "…", "C": "…", "D": "…"},
                    "answer": "B", "explanation": "…"}]}

A question's id is ``{exam}-{subject}-NNN`` and never changes once shipped:
practice sessions store ids, not questions. Validation is strict and every
message names the question (or exam) and the field.

Errors::

    ValueError
     └── PracticeError          anything the practice bank refuses
          ├── QuestionBankError the bank's data is malformed
          └── SelectionError    a request names an unknown exam, subject, question
                                or choice, or asks for more questions than there are
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Final, NoReturn, TypedDict

__all__ = [
    "FORMAT",
    "SHIPPED_SOURCE",
    "CatalogueExam",
    "CatalogueSubject",
    "Exam",
    "PracticeError",
    "PublicQuestion",
    "Question",
    "QuestionBank",
    "QuestionBankError",
    "QuestionResult",
    "ScoreResult",
    "SelectionError",
    "Subject",
    "load_bank",
    "parse_bank",
]

#: the ``format`` a bank document declares
FORMAT: Final = "examstutor-question-bank/1"
#: the ``source`` of the bank shipped with the package
SHIPPED_SOURCE: Final = "examstutor_api/practice/question_bank.json"
#: a question has at least this many choices, keyed A, B, C, D (and E)
MIN_CHOICES: Final = 4
_CHOICE_KEYS: Final = "ABCDE"

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = ("exams", "format", "questions")
_EXAM_KEYS = ("id", "name", "subjects")
_SUBJECT_KEYS = ("id", "name")
_QUESTION_KEYS = ("answer", "choices", "exam", "explanation", "id", "stem", "subject", "topic")


class PracticeError(ValueError):
    """Anything the practice question bank refuses."""


class QuestionBankError(PracticeError):
    """The bank's data is malformed: the message names the question or exam and the field."""


class SelectionError(PracticeError):
    """A request names an unknown exam, subject, question or choice, or asks for too many."""


class PublicQuestion(TypedDict):
    """A question as a student sees it before answering: no answer, no explanation."""

    id: str
    exam: str
    subject: str
    topic: str
    stem: str
    choices: dict[str, str]


class CatalogueSubject(TypedDict):
    """A subject of an exam with the number of questions it holds."""

    id: str
    name: str
    questions: int


class CatalogueExam(TypedDict):
    """An exam and its subjects, as ``GET /v1/practice/exams`` lists them."""

    id: str
    name: str
    subjects: list[CatalogueSubject]


def _invalid(where: str, field: str, problem: str) -> NoReturn:
    raise QuestionBankError(f"{where}: field {field!r}: {problem}")


def _check_text(where: str, field: str, value: str) -> None:
    if not value.strip():
        _invalid(where, field, "must not be empty")


def _check_slug(where: str, field: str, value: str) -> None:
    if not _SLUG.match(value):
        _invalid(where, field, f"{value!r} is not a lower-case id like 'mathematics'")


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject of an exam: a stable id and a display name."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _check_slug(f"subject {self.id!r}", "id", self.id)
        _check_text(f"subject {self.id!r}", "name", self.name)


@dataclass(frozen=True, slots=True)
class Exam:
    """An exam (WAEC, JAMB, …) and the subjects the bank holds questions for."""

    id: str
    name: str
    subjects: tuple[Subject, ...]

    def __post_init__(self) -> None:
        where = f"exam {self.id!r}"
        _check_slug(where, "id", self.id)
        _check_text(where, "name", self.name)
        if not self.subjects:
            _invalid(where, "subjects", "an exam needs at least one subject")
        seen: set[str] = set()
        for subject in self.subjects:
            if subject.id in seen:
                _invalid(where, "subjects", f"subject {subject.id!r} is listed twice")
            seen.add(subject.id)

    def subject(self, subject_id: str) -> Subject:
        """The subject ``subject_id``; :class:`SelectionError` listing the valid ones otherwise."""
        for subject in self.subjects:
            if subject.id == subject_id:
                return subject
        valid = ", ".join(subject.id for subject in self.subjects)
        raise SelectionError(f"{self.name} has no subject {subject_id!r}; subjects: {valid}")


@dataclass(frozen=True, slots=True)
class Question:
    """One multiple-choice question; ``choices`` are ``(key, text)`` pairs in key order."""

    id: str
    exam: str
    subject: str
    topic: str
    stem: str
    choices: tuple[tuple[str, str], ...]
    answer: str
    explanation: str

    def __post_init__(self) -> None:
        where = f"question {self.id!r}"
        _check_slug(where, "exam", self.exam)
        _check_slug(where, "subject", self.subject)
        prefix = f"{self.exam}-{self.subject}-"
        if not re.fullmatch(rf"{re.escape(prefix)}\d{{3,}}", self.id):
            _invalid(where, "id", f"must be {prefix!r} followed by a number like 001")
        for field in ("topic", "stem", "explanation"):
            _check_text(where, field, getattr(self, field))
        keys = self.choice_keys
        if len(keys) < MIN_CHOICES:
            _invalid(where, "choices", f"has {len(keys)}; a question needs at least {MIN_CHOICES}")
        expected = tuple(_CHOICE_KEYS[: len(keys)])
        if keys != expected or len(keys) > len(_CHOICE_KEYS):
            _invalid(where, "choices", f"keys must be {', '.join(expected)}, got {', '.join(keys)}")
        texts: dict[str, str] = {}
        for key, text in self.choices:
            _check_text(where, f"choices.{key}", text)
            same = texts.setdefault(" ".join(text.split()).casefold(), key)
            if same != key:
                _invalid(where, "choices", f"{same} and {key} are the same: {text!r}")
        if self.answer not in keys:
            _invalid(where, "answer", f"{self.answer!r} is not one of {', '.join(keys)}")

    @property
    def choice_keys(self) -> tuple[str, ...]:
        """The choice keys in order: ``("A", "B", "C", "D")``."""
        return tuple(key for key, _ in self.choices)

    def choice_text(self, key: str) -> str:
        """The text of choice ``key``; ``KeyError`` if there is no such choice."""
        for choice, text in self.choices:
            if choice == key:
                return text
        raise KeyError(key)

    def public(self) -> PublicQuestion:
        """The question as a student sees it before answering: no answer, no explanation."""
        return {
            "id": self.id,
            "exam": self.exam,
            "subject": self.subject,
            "topic": self.topic,
            "stem": self.stem,
            "choices": dict(self.choices),
        }


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """One marked question: the student's choice (None if unanswered) and the correction."""

    question_id: str
    your_choice: str | None
    answer: str
    answer_text: str
    correct: bool
    explanation: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, one key per field."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A marked practice session: one result per question, in the order asked."""

    questions: tuple[QuestionResult, ...]

    @property
    def correct(self) -> int:
        """How many questions were answered correctly."""
        return sum(result.correct for result in self.questions)

    @property
    def total(self) -> int:
        """How many questions were asked."""
        return len(self.questions)

    @property
    def percent(self) -> float:
        """The score as a percentage, to one decimal place."""
        return round(100 * self.correct / self.total, 1) if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``correct``, ``total``, ``percent`` and ``questions``."""
        return {
            "correct": self.correct,
            "total": self.total,
            "percent": self.percent,
            "questions": [result.as_dict() for result in self.questions],
        }


class QuestionBank:
    """Validated exams and questions, indexed by id and by exam and subject."""

    __slots__ = ("_by_id", "_exams", "_pools", "source", "version")

    def __init__(
        self,
        exams: Iterable[Exam],
        questions: Iterable[Question],
        *,
        source: str = "<memory>",
        version: str = "",
    ) -> None:
        self.source = source
        #: SHA-256 of the bank's text (empty for a bank built in memory)
        self.version = version
        self._exams: dict[str, Exam] = {}
        for exam in exams:
            if exam.id in self._exams:
                _invalid(f"exam {exam.id!r}", "id", "is listed twice")
            self._exams[exam.id] = exam
        if not self._exams:
            raise QuestionBankError("field 'exams': the bank needs at least one exam")
        pools: dict[tuple[str, str], list[Question]] = {
            (exam.id, subject.id): [] for exam in self._exams.values() for subject in exam.subjects
        }
        self._by_id: dict[str, Question] = {}
        for question in questions:
            where = f"question {question.id!r}"
            if question.id in self._by_id:
                _invalid(where, "id", "is listed twice")
            owner = self._exams.get(question.exam)
            if owner is None:
                _invalid(where, "exam", f"unknown exam {question.exam!r}; exams: {self._names()}")
            pool = pools.get((question.exam, question.subject))
            if pool is None:
                valid = ", ".join(subject.id for subject in owner.subjects)
                _invalid(
                    where,
                    "subject",
                    f"exam {owner.id!r} has no subject {question.subject!r}; subjects: {valid}",
                )
            pool.append(question)
            self._by_id[question.id] = question
        for (exam_id, subject_id), pool in pools.items():
            if not pool:
                _invalid(f"exam {exam_id!r}", "subjects", f"{subject_id!r} has no questions")
        self._pools = {pair: tuple(pool) for pair, pool in pools.items()}

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"<QuestionBank {self.source} {len(self)} questions>"

    def _names(self) -> str:
        return ", ".join(self._exams)

    @property
    def questions(self) -> tuple[Question, ...]:
        """Every question, in bank order."""
        return tuple(self._by_id.values())

    def exams(self) -> tuple[Exam, ...]:
        """Every exam, in bank order."""
        return tuple(self._exams.values())

    def exam(self, exam_id: str) -> Exam:
        """The exam ``exam_id``; :class:`SelectionError` listing the valid ones otherwise."""
        try:
            return self._exams[exam_id]
        except KeyError:
            raise SelectionError(f"no exam {exam_id!r}; exams: {self._names()}") from None

    def questions_for(self, exam: str, subject: str) -> tuple[Question, ...]:
        """The questions of one exam and subject, in bank order; unknown names are an error."""
        self.exam(exam).subject(subject)
        return self._pools[exam, subject]

    def get(self, question_id: str) -> Question | None:
        """The question ``question_id``, or None."""
        return self._by_id.get(question_id)

    def pick(self, exam: str, subject: str, n: int, rng: random.Random) -> list[Question]:
        """``n`` different questions of one exam and subject drawn with ``rng``.

        The same seed gives the same questions in the same order. Asking for
        fewer than one, or more than the subject holds, is a :class:`SelectionError`.
        """
        pool = self.questions_for(exam, subject)
        if n < 1:
            raise SelectionError(f"num_questions must be at least 1, got {n}")
        if n > len(pool):
            names = f"{self.exam(exam).name} {self.exam(exam).subject(subject).name}"
            raise SelectionError(
                f"{names} has {len(pool)} questions; cannot pick {n} (ask for at most {len(pool)})"
            )
        return rng.sample(pool, n)

    def score(self, question_ids: Sequence[str], answers: Mapping[str, str]) -> ScoreResult:
        """Mark ``answers`` (question id → choice key) against the questions asked.

        An unanswered question counts as wrong. A question id that is unknown or
        repeated, an answer to a question not asked, or a choice that the
        question does not offer is a :class:`SelectionError`.
        """
        if isinstance(question_ids, str):
            raise TypeError("question_ids must be a sequence of ids, not one string")
        if not question_ids:
            raise SelectionError("there are no questions to score")
        asked: dict[str, Question] = {}
        for question_id in question_ids:
            question = self.get(question_id)
            if question is None:
                raise SelectionError(f"no question {question_id!r} in the bank")
            if question_id in asked:
                raise SelectionError(f"question {question_id!r} is listed twice")
            asked[question_id] = question
        for question_id in answers:
            if question_id not in asked:
                raise SelectionError(f"question {question_id!r} was not asked in this session")
        results = []
        for question in asked.values():
            choice = answers.get(question.id)
            if choice is not None and choice not in question.choice_keys:
                valid = ", ".join(question.choice_keys)
                raise SelectionError(
                    f"question {question.id!r}: choice {choice!r} is not one of {valid}"
                )
            results.append(
                QuestionResult(
                    question_id=question.id,
                    your_choice=choice,
                    answer=question.answer,
                    answer_text=question.choice_text(question.answer),
                    correct=choice == question.answer,
                    explanation=question.explanation,
                )
            )
        return ScoreResult(tuple(results))

    def catalogue(self) -> list[CatalogueExam]:
        """Exams and subjects with their question counts, JSON-ready."""
        return [
            {
                "id": exam.id,
                "name": exam.name,
                "subjects": [
                    {"id": s.id, "name": s.name, "questions": len(self._pools[exam.id, s.id])}
                    for s in exam.subjects
                ],
            }
            for exam in self._exams.values()
        ]


@functools.cache
def load_bank() -> QuestionBank:
    """The bank shipped with the package, validated once and cached."""
    resource = resources.files("examstutor_api.practice") / "question_bank.json"
    return parse_bank(resource.read_text(encoding="utf-8"), SHIPPED_SOURCE)


def parse_bank(text: str, source: str = "<string>") -> QuestionBank:
    """Validate the bank ``text`` (JSON); ``source`` names it in error messages.

    Raises :class:`QuestionBankError` (a ``ValueError``) naming the question
    or exam and the field at the first problem found.
    """
    try:
        document = json.loads(text, object_pairs_hook=_JsonObject.from_pairs)
    except json.JSONDecodeError as exc:
        raise QuestionBankError(f"{source}: not valid JSON: {exc}") from None
    try:
        exams, questions = _read_document(document)
        version = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return QuestionBank(exams, questions, source=source, version=version)
    except QuestionBankError as exc:
        raise QuestionBankError(f"{source}: {exc}") from None


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers keys given twice (``json`` would keep the last silently)."""

    __slots__ = ("duplicates",)

    def __init__(self) -> None:
        super().__init__()
        self.duplicates: list[str] = []

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls()
        for key, value in pairs:
            if key in obj:
                obj.duplicates.append(key)
            obj[key] = value
        return obj


def _fields(where: str, raw: object, allowed: tuple[str, ...], field: str = "") -> dict[str, Any]:
    """``raw`` as a JSON object with only ``allowed`` keys, each given once."""
    prefix = f"{field}." if field else ""
    if not isinstance(raw, dict):
        if not field:
            raise QuestionBankError(f"{where}: must be a JSON object")
        _invalid(where, field, "must be a JSON object")
    for key in getattr(raw, "duplicates", ()):
        _invalid(where, f"{prefix}{key}", "is given twice")
    for key in raw:
        if key not in allowed:
            _invalid(where, f"{prefix}{key}", f"unknown field; allowed: {', '.join(allowed)}")
    return raw


def _text(where: str, body: Mapping[str, Any], key: str, field: str | None = None) -> str:
    field = field or key
    if key not in body:
        _invalid(where, field, "missing")
    value = body[key]
    if not isinstance(value, str):
        _invalid(where, field, f"must be text, got {type(value).__name__}")
    return value


def _list(where: str, body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        _invalid(where, key, "must be a non-empty JSON array")
    return value


def _read_document(document: object) -> tuple[list[Exam], list[Question]]:
    body = _fields("bank", document, _TOP_KEYS)
    declared = _text("bank", body, "format")
    if declared != FORMAT:
        _invalid("bank", "format", f"{declared!r} is not {FORMAT!r}")
    exams = [_read_exam(raw, index) for index, raw in enumerate(_list("bank", body, "exams"))]
    questions = [
        _read_question(raw, index) for index, raw in enumerate(_list("bank", body, "questions"))
    ]
    return exams, questions


def _named(raw: object, kind: str, fallback: str) -> str:
    """How errors name an entry: by its id once it has a textual one, else by position."""
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip():
        return f"{kind} {raw['id']!r}"
    return fallback


def _read_exam(raw: object, index: int) -> Exam:
    where = _named(raw, "exam", f"exams[{index}]")
    body = _fields(where, raw, _EXAM_KEYS)
    exam_id = _text(where, body, "id")
    subjects = []
    for position, raw_subject in enumerate(_list(where, body, "subjects")):
        field = f"subjects[{position}]"
        subject = _fields(where, raw_subject, _SUBJECT_KEYS, field)
        subject_id = _text(where, subject, "id", f"{field}.id")
        subjects.append(Subject(subject_id, _text(where, subject, "name", f"{field}.name")))
    return Exam(exam_id, _text(where, body, "name"), tuple(subjects))


def _read_question(raw: object, index: int) -> Question:
    where = _named(raw, "question", f"questions[{index}]")
    body = _fields(where, raw, _QUESTION_KEYS)
    question_id = _text(where, body, "id")
    for key in _QUESTION_KEYS:
        if key != "choices":
            _text(where, body, key)
    if "choices" not in body:
        _invalid(where, "choices", "missing")
    choices = _fields(where, body["choices"], tuple(_CHOICE_KEYS), "choices")
    pairs = tuple(sorted((key, _text(where, choices, key, f"choices.{key}")) for key in choices))
    return Question(
        id=question_id,
        exam=body["exam"],
        subject=body["subject"],
        topic=body["topic"],
        stem=body["stem"],
        choices=pairs,
        answer=body["answer"],
        explanation=body["explanation"],
    )

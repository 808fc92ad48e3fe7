"""Exam practice: the shipped WAEC and JAMB question bank, picking questions and scoring answers.

The bank is data (``question_bank.json``), validated when it is first loaded;
:mod:`examstutor_api.practice.bank` documents its format. This package knows
nothing of Sanic: the routes translate :class:`PracticeError` at their edge.
"""

from __future__ import annotations

from examstutor_api.practice.bank import (
    FORMAT,
    SHIPPED_SOURCE,
    CatalogueExam,
    CatalogueSubject,
    Exam,
    PracticeError,
    PublicQuestion,
    Question,
    QuestionBank,
    QuestionBankError,
    QuestionResult,
    ScoreResult,
    SelectionError,
    Subject,
    load_bank,
    parse_bank,
)

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

"""A malformed policy is refused with a message naming the file, the category and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from examstutor_platform.errors import PolicyError
from examstutor_platform.retention import STRATEGY_NAMES, load_policy, parse_policy

VALID = """
[categories.sessions]
period = "P30D"
legal_basis = "necessity"
action = "delete"

[[categories.sessions.tables]]
name = "auth_sessions"
clock = "last_used_at"
subject_column = "subject_id"

[categories.student_questions]
period = "P3Y"
legal_basis = "legitimate interest"
action = "anonymise"

[[categories.student_questions.tables]]
name = "questions"
clock = "created_at"

[categories.student_questions.tables.columns]
student_id = "null"
body_enc = { strategy = "redact", params = { text = "[removed]" } }
"""


def test_the_base_policy_is_valid() -> None:
    policy = parse_policy(VALID, "policy.toml")
    rules = policy.category("student_questions").tables[0].columns
    assert [(rule.column, rule.strategy, rule.options) for rule in rules] == [
        ("student_id", "null", {}),
        ("body_enc", "redact", {"text": "[removed]"}),
    ]


CASES = [
    # (replace this, with that, category, field, more of the message)
    (
        'period = "P30D"',
        'period = "P30X"',
        "sessions",
        "period",
        "'P30X' is not a duration like P30D",
    ),
    ('period = "P30D"', 'period = "30 days"', "sessions", "period", "not a duration"),
    ('period = "P30D"', 'period = "P0D"', "sessions", "period", "longer than zero"),
    ('period = "P30D"', 'period = "PT"', "sessions", "period", "not a duration"),
    ('period = "P30D"', 'period = "P1W"', "sessions", "period", "not a duration"),
    ('period = "P30D"', "period = 30", "sessions", "period", "not non-empty text"),
    ('period = "P30D"', "", "sessions", "period", "missing"),
    ('legal_basis = "necessity"', 'legal_basis = "  "', "sessions", "legal_basis", "non-empty"),
    ('legal_basis = "necessity"', "", "sessions", "legal_basis", "missing"),
    ('action = "delete"', 'action = "purge"', "sessions", "action", "not one of delete, anonymise"),
    ('action = "delete"', "", "sessions", "action", "missing"),
    ('period = "P30D"', 'period = "P30D"\nperod = "P1D"', "sessions", "perod", "unknown field"),
    (
        'clock = "last_used_at"',
        'clock = "last_used_at"\nwhere = "x"',
        "sessions",
        "tables[0].where",
        "allowed: clock, columns, name, subject_column",
    ),
    (
        'name = "auth_sessions"',
        'name = "Auth-Sessions"',
        "sessions",
        "tables[0].name",
        "identifier",
    ),
    (
        'name = "auth_sessions"',
        'name = "auth sessions"',
        "sessions",
        "tables[0].name",
        "identifier",
    ),
    ('name = "auth_sessions"', "", "sessions", "tables[0].name", "missing"),
    ('clock = "last_used_at"', 'clock = "1st"', "sessions", "tables[0].clock", "identifier"),
    ('clock = "last_used_at"', "", "sessions", "tables[0].clock", "missing"),
    (
        'subject_column = "subject_id"',
        'subject_column = "subject id"',
        "sessions",
        "tables[0].subject_column",
        "identifier",
    ),
    (
        'subject_column = "subject_id"',
        'subject_column = "subject_id"\ncolumns = { subject_id = "null" }',
        "sessions",
        "tables[0].columns",
        "only an anonymise category masks columns",
    ),
    (
        '[[categories.sessions.tables]]\nname = "auth_sessions"\nclock = "last_used_at"\n'
        'subject_column = "subject_id"',
        "",
        "sessions",
        "tables",
        "missing",
    ),
    (
        '[[categories.sessions.tables]]\nname = "auth_sessions"\nclock = "last_used_at"\n'
        'subject_column = "subject_id"',
        "tables = []",
        "sessions",
        "tables",
        "must be an array of tables [[categories.sessions.tables]]",
    ),
    (
        '[[categories.sessions.tables]]\nname = "auth_sessions"\nclock = "last_used_at"\n'
        'subject_column = "subject_id"',
        'tables = ["auth_sessions"]',
        "sessions",
        "tables[0]",
        "a table entry is a table",
    ),
    (
        'subject_column = "subject_id"',
        'subject_column = "subject_id"\n\n[[categories.sessions.tables]]\n'
        'name = "auth_sessions"\nclock = "created_at"',
        "sessions",
        "tables[1].name",
        "listed twice",
    ),
    (
        '[categories.student_questions.tables.columns]\nstudent_id = "null"\n'
        'body_enc = { strategy = "redact", params = { text = "[removed]" } }',
        "",
        "student_questions",
        "tables[0].columns",
        "anonymise needs a strategy",
    ),
    (
        '[categories.student_questions.tables.columns]\nstudent_id = "null"\n'
        'body_enc = { strategy = "redact", params = { text = "[removed]" } }',
        "[categories.student_questions.tables.columns]",
        "student_questions",
        "tables[0].columns",
        "non-empty table",
    ),
    (
        'student_id = "null"',
        'student_id = "scramble"',
        "student_questions",
        "tables[0].columns.student_id",
        "unknown masking strategy 'scramble'; valid: " + ", ".join(STRATEGY_NAMES),
    ),
    (
        'student_id = "null"',
        'student_id = { strategy = "shuffle" }',
        "student_questions",
        "tables[0].columns.student_id.strategy",
        "unknown masking strategy 'shuffle'; valid: null, redact, hmac_pseudonym",
    ),
    (
        'student_id = "null"',
        'student_id = { strateg = "null" }',
        "student_questions",
        "tables[0].columns.student_id.strateg",
        "unknown field; allowed: params, strategy",
    ),
    (
        'student_id = "null"',
        "student_id = { params = {} }",
        "student_questions",
        "tables[0].columns.student_id.strategy",
        "missing",
    ),
    (
        'student_id = "null"',
        "student_id = 3",
        "student_questions",
        "tables[0].columns.student_id",
        "must be a strategy name",
    ),
    (
        'student_id = "null"',
        '"Student-Id" = "null"',
        "student_questions",
        "tables[0].columns.Student-Id",
        "identifier",
    ),
    (
        'params = { text = "[removed]" }',
        'params = "[removed]"',
        "student_questions",
        "tables[0].columns.body_enc.params",
        "must be a table",
    ),
    (
        'params = { text = "[removed]" }',
        "params = { text = [1, 2] }",
        "student_questions",
        "tables[0].columns.body_enc.params.text",
        "text, a number or a boolean",
    ),
    (
        'params = { text = "[removed]" }',
        "params = { when = 2026-01-01 }",
        "student_questions",
        "tables[0].columns.body_enc.params.when",
        "text, a number or a boolean",
    ),
    (
        'params = { text = "[removed]" }',
        'params = { Text = "x" }',
        "student_questions",
        "tables[0].columns.body_enc.params.Text",
        "lower-case identifier",
    ),
    (
        'name = "questions"',
        'name = "auth_sessions"',
        "student_questions",
        "tables",
        "table 'auth_sessions' is already in category 'sessions'",
    ),
    ("[categories.sessions]", "[categories.Sessions]", "Sessions", "name", "lower-case identifier"),
]


@pytest.mark.parametrize(("old", "new", "category", "field", "message"), CASES)
def test_error_names_file_category_and_field(
    old: str, new: str, category: str, field: str, message: str
) -> None:
    assert old in VALID
    text = VALID.replace(old, new, 1)
    if category == "Sessions":  # every header of the category, not just the first
        text = text.replace("[categories.sessions", "[categories.Sessions")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "policy.toml")
    expected = f"policy.toml: category '{category}': field '{field}': "
    assert str(caught.value).startswith(expected), str(caught.value)
    assert message in str(caught.value)


def test_the_documented_example_message() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(VALID.replace('"P30D"', '"P30X"'), "policy.toml")
    assert str(caught.value) == (
        "policy.toml: category 'sessions': field 'period': "
        "'P30X' is not a duration like P30D (nY, nM, nD, TnH)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no categories"),
        ("categories = {}", "no categories"),
        ('categories = "all"', "no categories"),
        ('version = "1"\n' + VALID, "unknown top-level key 'version'; allowed: categories"),
        ("[categories.sessions\n", "not valid TOML"),
        ('categories = { sessions = "x" }', "category 'sessions': field 'name': a category is a"),
    ],
)
def test_file_level_errors_name_the_file(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "custom/policy.toml")
    assert str(caught.value).startswith("custom/policy.toml: ")
    assert message in str(caught.value)


def test_load_policy_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=f"^{missing}: cannot read the policy"):
        load_policy(missing)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(VALID.replace("necessity", "nécessité").encode("latin-1"))
    with pytest.raises(PolicyError, match=f"^{latin1}: the policy is not UTF-8"):
        load_policy(latin1)
    bad = tmp_path / "bad.toml"
    bad.write_text(VALID.replace('"P30D"', '"P30X"'), encoding="utf-8")
    with pytest.raises(PolicyError, match=f"^{bad}: category 'sessions': field 'period'"):
        load_policy(bad)

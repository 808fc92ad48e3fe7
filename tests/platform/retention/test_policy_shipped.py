"""The shipped retention policy: DESIGN.md's nine categories, against the real schema."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import asyncpg
import pytest

from examstutor_platform.errors import PolicyError
from examstutor_platform.retention import SHIPPED_SOURCE, Duration, load_policy

# DESIGN.md, "Retention categories": kept for, legal basis, action on expiry
EXPECTED = {
    "user_profile": ("P2Y", "contract", "anonymise"),
    "user_credentials": ("P2Y", "security", "delete"),
    "student_questions": ("P3Y", "legitimate interest (education quality)", "anonymise"),
    "student_practice": ("P3Y", "contract (progress tracking)", "anonymise"),
    "audit_logs": ("P7Y", "legal obligation", "drop_partition"),
    "security_logs": ("P5Y", "legal obligation", "delete"),
    "sessions": ("P30D", "necessity", "delete"),
    "cache": ("P7D", "necessity", "delete"),
    "temp_files": ("PT24H", "necessity", "delete"),
}
CLOCKS = {
    "user_profile": ["students.last_active_at"],
    "user_credentials": ["credentials.last_used_at"],
    "student_questions": ["questions.created_at"],
    "student_practice": ["practice_sessions.created_at"],
    "audit_logs": ["audit_events.occurred_at"],
    "security_logs": ["security_events.occurred_at", "login_attempts.attempted_at"],
    "sessions": ["auth_sessions.last_used_at"],
    "cache": ["cache_entries.created_at"],
    "temp_files": ["temp_files.created_at"],
}
IDENTITY = (
    "email_index",
    "email_enc",
    "full_name_enc",
    "phone_enc",
    "date_of_birth_enc",
    "guardian_email_enc",
)


def shipped_bytes() -> bytes:
    return (resources.files("examstutor_platform.retention") / "policy.toml").read_bytes()


def test_nine_categories_with_design_periods_bases_and_actions() -> None:
    policy = load_policy()
    assert policy.names() == tuple(EXPECTED)
    for name, (period, basis, action) in EXPECTED.items():
        category = policy.category(name)
        assert (str(category.period), category.legal_basis, category.action) == (
            period,
            basis,
            action,
        )
        assert [table.qualified_clock for table in category.tables] == CLOCKS[name]
    assert policy.category("temp_files").period == Duration(hours=24)
    assert policy.category("sessions").period == Duration(days=30)


def test_version_is_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    data = shipped_bytes()
    policy = load_policy()
    assert policy.version == hashlib.sha256(data).hexdigest()
    assert policy.source == SHIPPED_SOURCE
    copy = tmp_path / "policy.toml"
    copy.write_bytes(data)
    loaded = load_policy(copy)
    assert (loaded.version, loaded.categories) == (policy.version, policy.categories)
    assert loaded.source == str(copy)
    copy.write_bytes(data + b"# a comment is a new version\n")
    assert load_policy(copy).version != policy.version


def test_partitions_by_action() -> None:
    policy = load_policy()
    assert policy.delete_categories() == (
        "user_credentials",
        "security_logs",
        "sessions",
        "cache",
        "temp_files",
    )
    assert policy.anonymise_categories() == (
        "user_profile",
        "student_questions",
        "student_practice",
    )
    assert policy.drop_partition_categories() == ("audit_logs",)
    assert policy.categories_with("delete", "drop_partition") == (
        "user_credentials",
        "audit_logs",
        "security_logs",
        "sessions",
        "cache",
        "temp_files",
    )


def test_user_profile_deletes_identity_and_keeps_the_statistic() -> None:
    students = load_policy().category("user_profile").table("students")
    masked = {rule.column: rule.strategy for rule in students.columns}
    assert all(masked[column] == "null" for column in IDENTITY)
    assert "age_band" not in masked
    assert "status" not in masked  # set to 'anonymised' by the job, not a masking strategy
    assert students.subject_column == "id"


def test_question_and_practice_rows_lose_their_student() -> None:
    policy = load_policy()
    questions = policy.category("student_questions").table("questions")
    assert {rule.column: rule.strategy for rule in questions.columns} == {
        "student_id": "null",
        "body_enc": "null",
        "key_version": "null",
    }
    practice = policy.category("student_practice").table("practice_sessions")
    assert [(rule.column, rule.strategy) for rule in practice.columns] == [("student_id", "null")]


def test_as_table_rows() -> None:
    rows = load_policy().as_table()
    assert [row["category"] for row in rows] == list(EXPECTED)
    security = rows[5]
    assert security == {
        "category": "security_logs",
        "tables": "security_events, login_attempts",
        "clock": "security_events.occurred_at, login_attempts.attempted_at",
        "period": "P5Y",
        "kept_for": "5 years",
        "legal_basis": "legal obligation",
        "action": "delete",
        "masking": "",
    }
    assert rows[0]["masking"].startswith("students.email_index: null; students.email_enc: null")
    assert rows[8]["kept_for"] == "24 hours"


def test_unknown_category_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match="no category 'logs'; categories: user_profile, "):
        load_policy().category("logs")
    with pytest.raises(KeyError, match="covers no table 'students'"):
        load_policy().category("sessions").table("students")


async def test_every_table_and_column_exists_in_the_migrated_schema(
    conn: asyncpg.Connection,
) -> None:
    found = await conn.fetch(
        "SELECT table_name, column_name, data_type, is_nullable"
        " FROM information_schema.columns WHERE table_schema = 'public'"
    )
    columns = {(r["table_name"], r["column_name"]): r for r in found}
    tables = {table for table, _ in columns}
    for category in load_policy().categories.values():
        for table in category.tables:
            where = f"{category.name}: {table.name}"
            assert table.name in tables, where
            clock = columns.get((table.name, table.clock))
            assert clock is not None, f"{where}.{table.clock}"
            assert clock["data_type"] == "timestamp with time zone", f"{where}.{table.clock}"
            assert clock["is_nullable"] == "NO", f"{where}.{table.clock} may be NULL"
            if table.subject_column is not None:
                subject = columns.get((table.name, table.subject_column))
                assert subject is not None, f"{where}.{table.subject_column}"
                assert subject["data_type"] == "uuid", f"{where}.{table.subject_column}"
            for rule in table.columns:
                column = columns.get((table.name, rule.column))
                assert column is not None, f"{where}.{rule.column}"
                if rule.strategy == "null":
                    assert column["is_nullable"] == "YES", f"{where}.{rule.column} is NOT NULL"


async def test_every_personal_table_belongs_to_a_category(conn: asyncpg.Connection) -> None:
    """Tables outside the policy are kept on purpose; a new table must be placed or listed here."""
    kept_outside = {
        "schema_migrations",
        "data_keys",
        "staff",
        "consents",  # the consent ledger is the proof of lawful processing
        "guardian_consent_tokens",
        "practice_answers",  # hang off practice_sessions and name no one
        "dsr_requests",  # the request is the proof it was answered
        "legal_holds",
        "deletion_certificates",
        "outbox",
        "rotation_checkpoints",
        "audit_seals",
        "retention_progress",  # lives until its run is certified (minutes)
    }
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    )
    in_policy = {table.name for cat in load_policy().categories.values() for table in cat.tables}
    assert {r["relname"] for r in rows} - kept_outside == in_policy

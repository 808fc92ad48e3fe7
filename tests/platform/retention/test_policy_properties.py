"""Policy parsing round-trips, and cutoffs behave: known answers and properties."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examstutor_platform.retention import (
    ACTIONS,
    STRATEGY_NAMES,
    Category,
    ColumnRule,
    Duration,
    ParamValue,
    TableRule,
    cutoff,
    load_policy,
    parse_policy,
)

IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True)
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda text: text.strip() != ""
)
DURATIONS = (
    st.tuples(st.integers(0, 30), st.integers(0, 40), st.integers(0, 400), st.integers(0, 100))
    .filter(any)
    .map(lambda parts: Duration(*parts))
)
PARAM_VALUES: st.SearchStrategy[ParamValue] = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
ZONES = st.sampled_from(
    [
        UTC,
        timezone(timedelta(hours=1)),
        ZoneInfo("Africa/Lagos"),
        ZoneInfo("America/New_York"),
        ZoneInfo("Asia/Kolkata"),
    ]
)
MOMENTS = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2200, 1, 1), timezones=ZONES
)


def column_rules() -> st.SearchStrategy[tuple[ColumnRule, ...]]:
    rule = st.builds(
        ColumnRule,
        column=IDENTIFIERS,
        strategy=st.sampled_from(STRATEGY_NAMES),
        params=st.dictionaries(IDENTIFIERS, PARAM_VALUES, max_size=3).map(
            lambda params: tuple(sorted(params.items()))
        ),
    )
    return st.lists(rule, min_size=1, max_size=5, unique_by=lambda r: r.column).map(tuple)


@st.composite
def categories(draw: st.DrawFn) -> list[Category]:
    names = draw(st.lists(IDENTIFIERS, min_size=1, max_size=5, unique=True))
    tables = iter(draw(st.lists(IDENTIFIERS, min_size=3 * len(names), unique=True)))
    out = []
    for name in names:
        action = draw(st.sampled_from(ACTIONS))
        rules = []
        for _ in range(draw(st.integers(1, 3))):
            rules.append(
                TableRule(
                    name=next(tables),
                    clock=draw(IDENTIFIERS),
                    subject_column=draw(st.none() | IDENTIFIERS),
                    columns=draw(column_rules()) if action == "anonymise" else (),
                )
            )
        out.append(Category(name, draw(DURATIONS), draw(TEXT), action, tuple(rules)))
    return out


def toml_value(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def emit(cats: list[Category], inline: bool) -> str:
    """TOML text for ``cats`` in the shipped file's format."""
    lines = ["# generated"]
    for cat in cats:
        lines += [
            f"[categories.{cat.name}]",
            f'period = "{cat.period}"',
            f"legal_basis = {toml_value(cat.legal_basis)}",
            f'action = "{cat.action}"',
        ]
        for table in cat.tables:
            lines += [
                f"[[categories.{cat.name}.tables]]",
                f'name = "{table.name}"',
                f'clock = "{table.clock}"',
            ]
            if table.subject_column is not None:
                lines.append(f'subject_column = "{table.subject_column}"')
            if table.columns:
                lines.append(f"[categories.{cat.name}.tables.columns]")
            for rule in table.columns:
                if rule.params or inline:
                    params = ", ".join(f"{key} = {toml_value(v)}" for key, v in rule.params)
                    spec = f'strategy = "{rule.strategy}", params = {{ {params} }}'
                    lines.append(f"{rule.column} = {{ {spec} }}")
                else:
                    lines.append(f'{rule.column} = "{rule.strategy}"')
    return "\n".join(lines) + "\n"


@given(categories(), st.booleans())
def test_valid_policies_round_trip(cats: list[Category], inline: bool) -> None:
    text = emit(cats, inline)
    policy = parse_policy(text, "generated.toml")
    assert list(policy.categories.values()) == cats
    assert policy.version == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert policy.source == "generated.toml"
    for action in ACTIONS:
        assert policy.categories_with(action) == tuple(c.name for c in cats if c.action == action)


def test_shipped_policy_round_trips_through_the_emitter() -> None:
    shipped = load_policy()
    again = parse_policy(emit(list(shipped.categories.values()), inline=True), "again.toml")
    assert again.categories == shipped.categories


@given(DURATIONS)
def test_duration_text_round_trips(duration: Duration) -> None:
    assert Duration.parse(str(duration)) == duration


@pytest.mark.parametrize(
    ("period", "at", "expected"),
    [
        ("P2Y", datetime(2026, 2, 28, tzinfo=UTC), datetime(2024, 2, 28, tzinfo=UTC)),
        ("P2Y", datetime(2028, 2, 29, 12, tzinfo=UTC), datetime(2026, 2, 28, 12, tzinfo=UTC)),
        ("P4Y", datetime(2028, 2, 29, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        ("P1M", datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        ("P1M", datetime(2026, 1, 15, tzinfo=UTC), datetime(2025, 12, 15, tzinfo=UTC)),
        ("P1Y1M1D", datetime(2026, 3, 31, tzinfo=UTC), datetime(2025, 2, 27, tzinfo=UTC)),
        ("P30D", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 1, 30, tzinfo=UTC)),
        ("P7D", datetime(2026, 1, 3, 5, tzinfo=UTC), datetime(2025, 12, 27, 5, tzinfo=UTC)),
        (
            "PT24H",
            datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Africa/Lagos")),
            datetime(2026, 2, 27, 23, 30, tzinfo=UTC),
        ),
        (
            "P7Y",
            datetime(2026, 11, 25, 1, 0, tzinfo=ZoneInfo("Africa/Lagos")),
            datetime(2019, 11, 25, 0, 0, tzinfo=UTC),
        ),
    ],
)
def test_cutoff_known_answers(period: str, at: datetime, expected: datetime) -> None:
    category = Category("c", Duration.parse(period), "test", "delete", (TableRule("t", "ts"),))
    result = cutoff(category, at)
    assert result == expected
    assert result.tzinfo is UTC


def test_shipped_category_cutoffs() -> None:
    policy = load_policy()
    at = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert cutoff(policy.category("user_profile"), at) == datetime(2024, 11, 25, 1, 0, tzinfo=UTC)
    assert cutoff(policy.category("sessions"), at) == datetime(2026, 10, 26, 1, 0, tzinfo=UTC)
    assert cutoff(policy.category("temp_files"), at) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


def test_cutoff_needs_an_aware_datetime() -> None:
    category = load_policy().category("cache")
    with pytest.raises(ValueError, match="timezone-aware"):
        cutoff(category, datetime(2026, 1, 1))


def test_cutoff_before_year_one_is_an_error() -> None:
    with pytest.raises(ValueError, match="before year 1"):
        Duration(years=5).before(datetime(3, 1, 1, tzinfo=UTC))


@given(DURATIONS, MOMENTS)
def test_cutoff_is_before_at_in_utc(duration: Duration, at: datetime) -> None:
    result = duration.before(at)
    assert result < at
    assert result.utcoffset() == timedelta(0)
    assert duration.before(at.astimezone(UTC)) == result  # depends on the instant only


@given(DURATIONS, MOMENTS, MOMENTS)
def test_cutoff_is_monotonic(duration: Duration, first: datetime, second: datetime) -> None:
    early, late = sorted((first, second))
    assert duration.before(early) <= duration.before(late)


@given(st.integers(0, 400), st.integers(0, 100), MOMENTS)
def test_days_and_hours_are_elapsed_time(days: int, hours: int, at: datetime) -> None:
    if days == hours == 0:
        hours = 1
    assert at - Duration(days=days, hours=hours).before(at) == timedelta(days=days, hours=hours)


@given(st.integers(1, 40), MOMENTS)
def test_years_keep_the_calendar_date_or_clamp_it(years: int, at: datetime) -> None:
    utc = at.astimezone(UTC)
    result = Duration(years=years).before(at)
    assert (result.year, result.month) == (utc.year - years, utc.month)
    assert result.time() == utc.time()
    assert result.day == utc.day or (utc.month, utc.day, result.day) == (2, 29, 28)

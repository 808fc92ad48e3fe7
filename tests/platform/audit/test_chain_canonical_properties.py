"""Properties of canonical JSON: deterministic, key-order independent, a faithful encoding."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examstutor_platform.audit.canonical import (
    canonical,
    canonical_json,
    details_json,
    format_timestamp,
)

KEYS = st.text(min_size=1, max_size=12)
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-9, minutes=-30))]
)
AWARE = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=ZONES
)
FLAT_VALUES = st.one_of(st.none(), st.text(), st.integers(-(2**63), 2**63 - 1), AWARE)
FLAT_ROWS = st.dictionaries(KEYS.filter(lambda k: k != "chain_hash"), FLAT_VALUES, max_size=14)
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
DOCUMENTS = st.dictionaries(KEYS, JSON_VALUES, max_size=6)


def reversed_keys(value: Any) -> Any:
    """The same JSON value with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


@given(FLAT_ROWS, st.randoms(use_true_random=False))
def test_canonical_is_deterministic_and_key_order_independent(
    row: dict[str, Any], random: Any
) -> None:
    items = list(row.items())
    random.shuffle(items)
    assert canonical(dict(items)) == canonical(row) == canonical(reversed_keys(row))


@given(FLAT_ROWS)
def test_canonical_decodes_to_the_row(row: dict[str, Any]) -> None:
    decoded = json.loads(canonical(row).decode("utf-8"))
    expected = {
        key: format_timestamp(value) if isinstance(value, datetime) else value
        for key, value in row.items()
    }
    assert decoded == expected
    assert list(decoded) == sorted(decoded)


@given(FLAT_ROWS, st.text())
def test_chain_hash_never_changes_the_canonical_bytes(row: dict[str, Any], stored: str) -> None:
    assert canonical(row | {"chain_hash": stored}) == canonical(row)


@given(AWARE)
def test_timestamps_are_the_same_instant_in_utc(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert len(text) == 27
    assert text.endswith("Z")
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert parsed == moment
    assert format_timestamp(moment.astimezone(timezone(timedelta(hours=5)))) == text


@given(DOCUMENTS)
def test_canonical_json_round_trips_and_ignores_key_order(document: dict[str, Any]) -> None:
    encoded = canonical_json(document)
    assert encoded == canonical_json(reversed_keys(document))
    assert json.loads(encoded) == document
    assert encoded == json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@given(DOCUMENTS)
def test_details_json_is_canonical_json_as_text(details: dict[str, Any]) -> None:
    assert details_json(details).encode("utf-8") == canonical_json(details)
    assert details_json(reversed_keys(details)) == details_json(details)


def test_canonical_json_writes_dates_and_timestamps() -> None:
    document = {
        "b": date(2026, 11, 25),
        "a": datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        "c": (1, "ü"),
    }
    assert canonical_json(document) == (
        '{"a":"2026-11-24T23:30:00.000000Z","b":"2026-11-25","c":[1,"ü"]}'.encode()
    )


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, float("nan"), float("inf"), object()])
def test_canonical_json_refuses_values_without_one_form(value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"x": value})


def test_canonical_json_refuses_non_text_keys() -> None:
    with pytest.raises(TypeError, match="keys are text"):
        canonical_json({"x": {1: "one"}})


@pytest.mark.parametrize("value", [1.5, b"x", ["list"], {"nested": 1}])
def test_canonical_row_is_flat(value: object) -> None:
    with pytest.raises(TypeError, match="flat"):
        canonical({"seq": 1, "x": value})

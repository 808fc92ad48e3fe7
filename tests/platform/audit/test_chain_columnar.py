"""The columnar canonical text is byte for byte the reference ``canonical`` of each row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examstutor_platform.audit.canonical import canonical, details_json
from examstutor_platform.audit.columnar import (
    TEXT_COLUMNS,
    canonical_lines,
    json_strings,
    timestamp_texts,
)

#: text as hostile as JSON gets: quotes, backslashes, every control character, non-ASCII
TEXTS = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet=st.sampled_from('"\\\x00\x01\x1f\x7f\n\r\t\b\f\v é数🎓\u2028')),
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
)
DETAILS = st.dictionaries(
    st.text(max_size=6),
    st.one_of(
        st.none(), st.integers(), st.text(), st.floats(allow_nan=False, allow_infinity=False)
    ),
    max_size=4,
)
ROWS = st.lists(
    st.tuples(MOMENTS, st.lists(TEXTS, min_size=9, max_size=9), DETAILS), min_size=1, max_size=30
)


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _lines(rows: list[tuple[datetime, list[str | None], dict[str, Any]]]) -> list[bytes]:
    seq = pa.array([1000 + i * 7 for i in range(len(rows))], pa.int64())
    occurred = pa.array([_micros(moment) for moment, _, _ in rows], pa.int64())
    texts = [
        pa.array([values[i] for _, values, _ in rows], pa.string())
        for i in range(len(TEXT_COLUMNS))
    ]
    details = json_strings(pa.array([details_json(d) for _, _, d in rows], pa.string()))
    lines = canonical_lines(seq, occurred, texts, details)
    return [line.encode("utf-8") for line in lines.to_pylist()]


def _reference(index: int, row: tuple[datetime, list[str | None], dict[str, Any]]) -> bytes:
    moment, values, details = row
    return canonical(
        {
            "seq": 1000 + index * 7,
            "occurred_at": moment,
            **dict(zip(TEXT_COLUMNS, values, strict=True)),
            "details": details_json(details),
        }
    )


@settings(max_examples=200)
@given(ROWS)
def test_columnar_lines_are_the_reference_canonical_bytes(
    rows: list[tuple[datetime, list[str | None], dict[str, Any]]],
) -> None:
    assert _lines(rows) == [_reference(i, row) for i, row in enumerate(rows)]


@given(st.lists(TEXTS, max_size=20))
def test_json_strings_are_json_dumps(values: list[str | None]) -> None:
    from json import dumps

    got = json_strings(pa.array(values, pa.string())).to_pylist()
    assert got == [None if v is None else dumps(v, ensure_ascii=False) for v in values]


def test_timestamps_before_1970_and_at_the_edges() -> None:
    moments = [
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2026, 1, 15, 0, 0, 0, 1, tzinfo=UTC),
    ]
    for moment in moments:
        seconds, fraction = timestamp_texts(pa.array([_micros(moment)], pa.int64()))
        assert f"{seconds[0].as_py()}.{fraction[0].as_py()}Z" == (
            f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z"
        )


def test_a_row_without_seq_or_details_is_refused() -> None:
    texts = [pa.array(["x"], pa.string())] * len(TEXT_COLUMNS)
    with pytest.raises(ValueError, match="seq and details"):
        canonical_lines(
            pa.array([None], pa.int64()), pa.array([0], pa.int64()), texts, pa.array(['"{}"'])
        )

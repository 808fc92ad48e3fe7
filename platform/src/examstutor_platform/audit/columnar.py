"""The canonical bytes of many export rows at once, from Arrow columns (CONTRACT §6).

:func:`canonical_lines` gives, row by row, exactly the bytes that
:func:`~examstutor_platform.audit.canonical.canonical` gives for the same export
row, without a Python object per row: the constant text of the sorted keys is
joined with each column's JSON form by Arrow's string kernels.

- text columns: a value without a quote, backslash or control character is its
  JSON string as it stands between two quotes; the few values that JSON must
  escape go through the ``json`` module's own encoder
  (:func:`json.encoder.encode_basestring`, the escapes of ``json.dumps`` with
  ``ensure_ascii=False``); null is ``null``;
- ``occurred_at``: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` from microseconds since the
  epoch (each distinct second formatted once);
- ``seq``: its decimal digits;
- ``details``: the caller passes the JSON string literal of each row's
  canonical details text (:func:`json_strings` makes them).

A property test holds this module to :func:`canonical` on arbitrary text.
"""

from __future__ import annotations

from collections.abc import Sequence
from json.encoder import encode_basestring
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from examstutor_platform.audit.canonical import EXPORT_COLUMNS, format_timestamp

__all__ = ["TEXT_COLUMNS", "canonical_lines", "json_strings", "needs_escape", "timestamp_texts"]

#: the export's text columns, ``actor_pseudonym`` … ``request_id``, in Parquet order
TEXT_COLUMNS: Final = EXPORT_COLUMNS[2:11]
#: the keys of a canonical row, sorted as ``json.dumps(sort_keys=True)`` sorts them
_KEYS: Final = tuple(sorted(EXPORT_COLUMNS[:12]))
#: bytes that JSON escapes in a string (control characters, quote, backslash)
_ESCAPED_BYTES: Final = bytes(range(0x20)) + b'"\\'
_ESCAPED_PATTERN: Final = r'[\x00-\x1f"\\]'
_MICROS: Final = 1_000_000
#: 10000-01-01T00:00:00Z: the first instant whose year has five digits
_END_OF_YEAR_9999: Final = 253_402_300_800 * _MICROS


def needs_escape(values: pa.Array) -> bool:
    """Whether any value of a string array holds a byte that JSON escapes (may say yes wrongly)."""
    data = values.buffers()[2]
    if data is None or data.size == 0:
        return False
    raw = data.to_pybytes()
    return len(raw.translate(None, _ESCAPED_BYTES)) != len(raw)


def json_strings(values: pa.Array) -> pa.Array:
    """The JSON string literal of each value (``"…"`` with escapes); null stays null."""
    return _json_strings(values, needs_escape(values))


def _json_strings(values: pa.Array, special: bool) -> pa.Array:
    quoted = pc.binary_join_element_wise('"', values, '"', "")
    if not special:
        return quoted
    mask = pc.fill_null(pc.match_substring_regex(values, _ESCAPED_PATTERN), False)
    marked: list[str] = values.filter(mask).to_pylist()
    if not marked:
        return quoted
    escaped = pa.array([encode_basestring(value) for value in marked], pa.string())
    return pc.replace_with_mask(quoted, mask, escaped)


def timestamp_texts(micros: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(``YYYY-MM-DDTHH:MM:SS``, ``ffffff``) of microseconds since the epoch, in UTC."""
    if micros.null_count:
        raise ValueError("an audit row needs occurred_at")
    if len(micros) == 0:
        empty = pa.array([], pa.string())
        return empty, empty
    bounds = pc.min_max(micros).as_py()
    if bounds["min"] < 0 or bounds["max"] >= _END_OF_YEAR_9999:
        # outside 1970-9999 the kernels below are not exact: the reference, one row at a time
        moments = micros.cast(pa.timestamp("us", tz="UTC")).to_pylist()
        texts = [format_timestamp(moment) for moment in moments]
        return (
            pa.array([text[:19] for text in texts], pa.string()),
            pa.array([text[20:26] for text in texts], pa.string()),
        )
    seconds = pc.divide(micros, _MICROS)
    fraction = pc.utf8_lpad(
        pc.cast(pc.subtract(micros, pc.multiply(seconds, _MICROS)), pa.string()), 6, "0"
    )
    distinct = seconds.dictionary_encode()
    stamps = pc.strftime(
        pc.cast(distinct.dictionary, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%S"
    )
    return stamps.take(distinct.indices), fraction


class _Pieces:
    """Constant text and columns to join row by row; adjacent constants are merged."""

    def __init__(self) -> None:
        self.items: list[str | pa.Array] = []

    def text(self, value: str) -> None:
        if self.items and isinstance(self.items[-1], str):
            self.items[-1] += value
        else:
            self.items.append(value)

    def column(self, values: pa.Array) -> None:
        self.items.append(values)


def canonical_lines(
    seq: pa.Array,
    occurred_us: pa.Array,
    texts: Sequence[pa.Array],
    details: pa.Array,
) -> pa.Array:
    """The canonical bytes of each row as a string array (UTF-8), in row order.

    ``texts`` are the :data:`TEXT_COLUMNS` in that order (null allowed),
    ``details`` the JSON string literal of each row's details text
    (:func:`json_strings` of the texts of
    :func:`~examstutor_platform.audit.canonical.details_json`).
    """
    if len(texts) != len(TEXT_COLUMNS):
        raise ValueError(f"canonical_lines needs the {len(TEXT_COLUMNS)} text columns")
    if seq.null_count or details.null_count:
        raise ValueError("an audit row needs seq and details")
    seconds, fraction = timestamp_texts(occurred_us)
    by_name = dict(zip(TEXT_COLUMNS, texts, strict=True))
    pieces = _Pieces()
    for index, key in enumerate(_KEYS):
        pieces.text(("{" if index == 0 else ",") + f'"{key}":')
        if key == "seq":
            pieces.column(pc.cast(seq, pa.string()))
        elif key == "details":
            pieces.column(details)
        elif key == "occurred_at":
            pieces.text('"')
            pieces.column(seconds)
            pieces.text(".")
            pieces.column(fraction)
            pieces.text('Z"')
        else:
            values = by_name[key]
            special = needs_escape(values)
            if values.null_count or special:
                pieces.column(pc.fill_null(_json_strings(values, special), "null"))
            else:
                pieces.text('"')
                pieces.column(values)
                pieces.text('"')
    pieces.text("}")
    if len(seq) == 0:
        return pa.array([], pa.string())
    return pc.binary_join_element_wise(*pieces.items, "")

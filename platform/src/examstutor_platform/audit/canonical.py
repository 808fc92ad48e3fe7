"""Canonical bytes of an audit export row and of signed JSON documents (CONTRACT §6).

``canonical(row)`` is what the hash chain hashes: the UTF-8 JSON of the export
row without ``chain_hash``, keys sorted, separators ``(",", ":")``,
``ensure_ascii=False``, timestamps as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.

The export row is flat: ``seq`` (int), ``occurred_at`` (aware datetime, or
the timestamp text), nine text-or-null columns and ``details``. ``details`` is
the JSON *text* stored in the Parquet column of that name, produced once by
:func:`details_json` (keys sorted, separators ``(",", ":")``,
``ensure_ascii=False``) and hashed as a JSON string, never re-parsed. The
seal (rows from the database through :func:`export_row`) and the offline
verifier (rows read back from Parquet) therefore hash identical bytes.

``canonical_json(obj)`` applies the same rules to nested documents (the export
manifest, the seal payload); there dates are ``YYYY-MM-DD``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Final

from examstutor_platform.audit.events import AuditRecord

__all__ = [
    "EXPORT_COLUMNS",
    "canonical",
    "canonical_json",
    "details_json",
    "export_row",
    "format_timestamp",
]

#: the export's columns in Parquet order; ``chain_hash`` is added by the seal/export
EXPORT_COLUMNS: Final[tuple[str, ...]] = (
    "seq",
    "occurred_at",
    "actor_pseudonym",
    "actor_role",
    "action",
    "resource",
    "resource_id",
    "outcome",
    "severity",
    "ip_prefix",
    "request_id",
    "details",
    "chain_hash",
)


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` of an aware datetime, in UTC; naive is a ``ValueError``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware (naive datetime given)")
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}Z"
    )


def _dumps(obj: Any) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def details_json(details: Mapping[str, Any]) -> str:
    """The export's ``details`` text: sorted keys, compact, non-ASCII kept as is."""
    return json.dumps(
        _normalise(details, "details"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes the chain hashes for one flat export row (``chain_hash`` left out).

    Values must be text, integers, booleans, None or aware datetimes; a nested
    value (a ``details`` dict, say) is a ``TypeError``: pass the row through
    :func:`export_row`, which turns ``details`` into its JSON text.
    """
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if not isinstance(key, str):
            raise TypeError(f"export row keys are text, not {type(key).__name__}")
        if key == "chain_hash":
            continue
        if isinstance(value, datetime):
            flat[key] = format_timestamp(value)
        elif value is None or isinstance(value, str | int):
            flat[key] = value
        else:
            raise TypeError(
                f"export row field {key!r} is {type(value).__name__}; an export row is flat "
                "(text, integers, null, aware datetimes): details go in as JSON text"
            )
    return _dumps(flat)


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """Canonical UTF-8 JSON of a document (manifest, seal payload), nested values allowed."""
    return _dumps(_normalise(obj, "document"))


def export_row(record: AuditRecord) -> dict[str, Any]:
    """The export row of a stored event, without ``chain_hash``, in :data:`EXPORT_COLUMNS` order.

    ``occurred_at`` stays a datetime (Parquet writes it as timestamp(us, UTC));
    ``details`` becomes its JSON text (:func:`details_json`).
    """
    format_timestamp(record.occurred_at)  # rejects a naive timestamp here, not at hashing time
    return {
        "seq": record.seq,
        "occurred_at": record.occurred_at,
        "actor_pseudonym": record.actor_pseudonym,
        "actor_role": record.actor_role,
        "action": record.action,
        "resource": record.resource,
        "resource_id": record.resource_id,
        "outcome": record.outcome,
        "severity": record.severity,
        "ip_prefix": record.ip_prefix,
        "request_id": record.request_id,
        "details": details_json(record.details),
    }


def _normalise(value: Any, where: str) -> Any:
    """JSON-ready copy: datetimes and dates as text, tuples as lists; other types refused."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: JSON object keys are text, not {type(key).__name__}")
            out[key] = _normalise(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item, where) for item in value]
    raise TypeError(f"{where}: {type(value).__name__} has no canonical JSON form")

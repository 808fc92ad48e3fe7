"""``/v1/audit``: what auditors need to verify the audit log offline.

* ``GET /exports`` lists the exported days under ``EXPORT_DIR/audit/`` (only
  days with a readable ``manifest.json``): files with SHA-256, rows and bytes.
* ``GET /exports/{date}/{file}`` streams one file of a day: a
  ``events-NNNN.parquet`` the manifest lists, or the manifest itself. Its
  ``ETag`` is the file's SHA-256 (the manifest's entry; for ``manifest.json``
  the hash of its bytes) and ``If-None-Match`` answers 304. Names are
  checked against strict patterns before any path is built: anything else is 404.
* ``GET /public-key`` is the Ed25519 public key (PEM) that verifies manifests.
* ``GET /events`` pages the audit log by ``seq``. Events carry pseudonyms,
  never personal data. ``seq`` order is not commit order across concurrent
  flushes (see :mod:`examstutor_platform.audit.writer`): a page ending at
  "now" may later gain an event below its last ``seq``; a ``to`` a few
  seconds in the past (or a sealed export) gives a gap-free read.

Every request, allowed or denied, leaves one ``data.read`` audit event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse, ResponseStream, text
from sanic_ext import openapi
from sanic_ext.extensions.openapi import types as oas

from examstutor_api.auditing import audit_spec, audited
from examstutor_api.auth.principal import require
from examstutor_api.bodies import query_int
from examstutor_api.errors import NotFound, Unprocessable
from examstutor_api.routes.schemas import ERROR as _JSON_ERROR
from examstutor_api.routes.schemas import denials
from examstutor_platform.audit.signing import Signer
from examstutor_platform.db.queries import load_queries

__all__ = ["bp"]

bp = Blueprint("auditor", url_prefix="/audit")

Q = load_queries("examstutor_api.queries", "auditor.sql")
#: sanic-ext's schema classes are untyped: typed handles for mypy --strict
_Integer: Callable[..., oas.Schema] = oas.Integer
_String: Callable[..., oas.Schema] = oas.String
_log = logging.getLogger(__name__)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE = re.compile(r"^events-\d{4}\.parquet$|^manifest\.json$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MANIFEST = "manifest.json"
EVENTS_DEFAULT, EVENTS_MAX = 100, 1000
_CHUNK = 64 * 1024
_MEDIA_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json"}


# ---------------------------------------------------------------- documentation shapes


@dataclass(frozen=True)
class ExportFile:
    """One file of an exported day."""

    name: str
    sha256: str
    rows: int | None
    bytes: int | None


@dataclass(frozen=True)
class ExportDay:
    """One exported day, from its manifest."""

    date: str
    rows: int | None
    first_seq: int | None
    last_seq: int | None
    generated_at: str | None
    key_id: str | None
    files: list[ExportFile]
    manifest: ExportFile


@dataclass(frozen=True)
class ExportsAnswer:
    """Every exported day, oldest first."""

    days: list[ExportDay]


@dataclass(frozen=True)
class EventEntry:
    """One audit event (pseudonymised)."""

    seq: int
    occurred_at: str
    actor_pseudonym: str
    actor_role: str
    action: str
    resource: str
    resource_id: str | None
    outcome: str
    severity: str
    ip_prefix: str | None
    request_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class EventsAnswer:
    """A page of events by ``seq``; ask again with ``after_seq=next_after_seq``."""

    events: list[EventEntry]
    next_after_seq: int
    has_more: bool


_denials = denials("an auditor")


# ---------------------------------------------------------------- exports on disk


def _export_root(request: Request) -> Path:
    return Path(request.app.ctx.settings.export_dir) / "audit"


def _read_manifest(folder: Path) -> tuple[dict[str, Any], bytes] | None:
    """The day's manifest and its raw bytes, or None when it is missing or unreadable."""
    path = folder / MANIFEST
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except (OSError, ValueError):
        return None
    return (manifest, raw) if isinstance(manifest, dict) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _listed_files(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's well-formed file entries (name and SHA-256 valid)."""
    files = manifest.get("files")
    listed = []
    for entry in files if isinstance(files, list) else []:
        if not isinstance(entry, dict):
            continue
        name, sha = entry.get("name"), entry.get("sha256")
        if not isinstance(name, str) or not isinstance(sha, str):
            continue
        if name == MANIFEST or not _FILE.match(name) or not _HEX64.match(sha):
            continue
        listed.append(
            {
                "name": name,
                "sha256": sha,
                "rows": _int_or_none(entry.get("rows")),
                "bytes": _int_or_none(entry.get("bytes")),
            }
        )
    return listed


def _valid_day(name: str) -> bool:
    if not _DAY.match(name):
        return False
    try:
        date.fromisoformat(name)
    except ValueError:
        return False
    return True


def _scan(root: Path) -> list[dict[str, Any]]:
    try:
        folders = sorted(p for p in root.iterdir() if _valid_day(p.name) and p.is_dir())
    except OSError:  # no export yet
        return []
    days = []
    for folder in folders:
        found = _read_manifest(folder)
        if found is None:
            continue
        manifest, raw = found
        signature = manifest.get("signature")
        generated = manifest.get("generated_at")
        days.append(
            {
                "date": folder.name,
                "rows": _int_or_none(manifest.get("rows")),
                "first_seq": _int_or_none(manifest.get("first_seq")),
                "last_seq": _int_or_none(manifest.get("last_seq")),
                "generated_at": generated if isinstance(generated, str) else None,
                "key_id": signature.get("key_id") if isinstance(signature, dict) else None,
                "files": _listed_files(manifest),
                "manifest": {
                    "name": MANIFEST,
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "rows": None,
                    "bytes": len(raw),
                },
            }
        )
    return days


@bp.get("/exports")
@openapi.summary("Days of audit log exported, with their files and SHA-256s")
@openapi.secured("bearer")
@openapi.response(200, {"application/json": ExportsAnswer}, "The exported days")
@_denials
@audited("data.read", "audit_export")
async def list_exports(request: Request) -> HTTPResponse:
    """Every day under ``EXPORT_DIR/audit`` that has a manifest, oldest first."""
    await require(request, "auditor")
    days = await asyncio.to_thread(_scan, _export_root(request))
    audit_spec(request).details = {"operation": "list", "days": len(days)}
    return JSONResponse({"days": days})


def _locate(root: Path, day: str, name: str) -> tuple[Path, str]:
    """The file's path and SHA-256, or :class:`NotFound` for anything not exported."""
    missing = NotFound("no such exported file", code="export_not_found")
    if not _valid_day(day) or not _FILE.match(name):
        raise missing
    folder = root / day
    found = _read_manifest(folder)
    if found is None:
        raise missing
    manifest, raw = found
    if name == MANIFEST:
        sha = hashlib.sha256(raw).hexdigest()
    else:
        entry = next((f for f in _listed_files(manifest) if f["name"] == name), None)
        if entry is None:
            raise missing
        sha = entry["sha256"]
    path = folder / name
    try:
        resolved = path.resolve(strict=True)
        inside = resolved.is_relative_to(root.resolve(strict=True))
    except OSError:
        raise missing from None
    if not inside or not resolved.is_file():
        raise missing
    return resolved, sha


def _matches(if_none_match: str, etag: str) -> bool:
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


@bp.get("/exports/<day:str>/<name:str>")
@openapi.summary("Download one file of an exported day")
@openapi.description(
    "Streams `events-NNNN.parquet` (as listed in the day's manifest) or `manifest.json`. "
    "`ETag` is the file's SHA-256 in quotes; send it back in `If-None-Match` for a 304. "
    "Any other date or name is 404."
)
@openapi.secured("bearer")
@openapi.parameter("day", _String(pattern=r"^\d{4}-\d{2}-\d{2}$"), "path", required=True)
@openapi.parameter(
    "name", _String(pattern=r"^(events-\d{4}\.parquet|manifest\.json)$"), "path", required=True
)
@openapi.parameter("If-None-Match", str, "header", description="an ETag from before")
@openapi.response(200, {"application/octet-stream": bytes}, "The file")
@openapi.response(304, {"text/plain": str}, "Not modified: the ETag matches")
@openapi.response(404, _JSON_ERROR, "No such exported file")
@_denials
@audited("data.read", "audit_export")
async def download_export(request: Request, day: str, name: str) -> HTTPResponse | ResponseStream:
    """Stream a file of an exported day, with its SHA-256 as ``ETag``."""
    await require(request, "auditor")
    spec = audit_spec(request)
    spec.details = {"operation": "download"}
    path, sha = await asyncio.to_thread(_locate, _export_root(request), day, name)
    spec.resource_id = f"{day}/{name}"
    etag = f'"{sha}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        spec.details = {"operation": "download", "not_modified": True}
        return HTTPResponse(status=304, headers=headers)
    size = (await asyncio.to_thread(path.stat)).st_size
    spec.details = {"operation": "download", "bytes": size}
    return ResponseStream(
        _streamer(path),
        headers={
            **headers,
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{day}-{name}"',
        },
        content_type=_MEDIA_TYPES[path.suffix],
    )


def _streamer(path: Path) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """Stream ``path`` in chunks, closing it however the stream ends.

    Not sanic's ``file_stream``: it opens the file in a worker thread, and when the
    client goes away while that open (or the close) still waits for a thread, the
    cancelled task never closes the file; it lingers until garbage collection. Here
    the open and the close are plain calls (a local file: no real wait), so a
    cancellation between them always reaches the ``finally``; only reads go to a thread.
    """

    async def stream(response: Any) -> None:
        handle = path.open("rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _CHUNK):
                await response.write(chunk)
        finally:
            handle.close()

    return stream


# ---------------------------------------------------------------- the public key


@bp.get("/public-key")
@openapi.summary("The Ed25519 public key that verifies seals and manifests (PEM)")
@openapi.secured("bearer")
@openapi.response(200, {"application/x-pem-file": str}, "The public key")
@_denials
@audited("data.read", "audit_public_key")
async def public_key(request: Request) -> HTTPResponse:
    """The signing key's public half as PEM; ``X-Key-ID`` names it as manifests do."""
    await require(request, "auditor")
    signer = Signer(request.app.ctx.settings.signing_key)
    audit_spec(request).resource_id = signer.key_id
    return text(
        signer.public_pem(),
        content_type="application/x-pem-file",
        headers={"X-Key-ID": signer.key_id},
    )


# ---------------------------------------------------------------- events by seq


def _instant(request: Request, name: str, *, end: bool) -> datetime | None:
    """``from`` / ``to`` as an instant: a date is a business day (``to`` takes all of it);
    a datetime without an offset is UTC."""
    raw = request.get_args(keep_blank_values=True).get(name)
    if raw is None:
        return None
    problem = f"{name} must be a date YYYY-MM-DD or an ISO 8601 date and time"
    if not raw.isascii() or len(raw) > 40:
        raise Unprocessable(problem, field=name)
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw) + timedelta(days=1 if end else 0)
            moment = datetime.combine(day, time(), tzinfo=request.app.ctx.settings.tz)
        else:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Unprocessable(problem, field=name) from None


def _event(row: Any) -> dict[str, Any]:
    occurred: datetime = row["occurred_at"]
    return {
        "seq": row["seq"],
        "occurred_at": occurred.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_pseudonym": row["actor_pseudonym"],
        "actor_role": row["actor_role"],
        "action": row["action"],
        "resource": row["resource"],
        "resource_id": row["resource_id"],
        "outcome": row["outcome"],
        "severity": row["severity"],
        "ip_prefix": row["ip_prefix"],
        "request_id": row["request_id"],
        "details": row["details"],
    }


@bp.get("/events")
@openapi.summary("Audit events (pseudonymised), paged by seq")
@openapi.description(
    "Events with `seq > after_seq` in `seq` order, at most `limit` (1 to 1000, default 100). "
    "`from` (inclusive) and `to` (exclusive) are ISO dates or date-times; a date is a "
    "business day in EXAMSTUTOR_TIMEZONE and `to` then takes the whole day; a date-time "
    "without an offset is UTC. Ask for the next page with `after_seq=next_after_seq`. "
    "Concurrent writers commit in batches, so an event from the last moments may still "
    "appear below `next_after_seq`; for a gap-free read give a `to` a few seconds in the "
    "past, or use the sealed daily exports."
)
@openapi.secured("bearer")
@openapi.parameter("from", str, "query", description="first day or instant (inclusive)")
@openapi.parameter("to", str, "query", description="last day (inclusive) or instant (exclusive)")
@openapi.parameter("after_seq", _Integer(minimum=0, default=0), "query")
@openapi.parameter(
    "limit", _Integer(minimum=1, maximum=EVENTS_MAX, default=EVENTS_DEFAULT), "query"
)
@openapi.response(200, {"application/json": EventsAnswer}, "A page of events")
@openapi.response(422, _JSON_ERROR, "A parameter is invalid; `field` names it")
@_denials
@audited("data.read", "audit_event")
async def events(request: Request) -> HTTPResponse:
    """A page of the audit log by ``seq``."""
    await require(request, "auditor")
    after_seq = query_int(request, "after_seq", 0, 0, 2**63 - 1)
    limit = query_int(request, "limit", EVENTS_DEFAULT, 1, EVENTS_MAX)
    start = _instant(request, "from", end=False)
    stop = _instant(request, "to", end=True)
    if start is not None and stop is not None and stop < start:
        raise Unprocessable("to must not be before from", field="to")
    async with request.app.ctx.pool.acquire() as conn:
        rows = await conn.fetch(Q["events_page"], after_seq, start, stop, limit + 1)
    has_more = len(rows) > limit
    page = [_event(row) for row in rows[:limit]]
    next_after = page[-1]["seq"] if page else after_seq
    audit_spec(request).details = {
        "operation": "page",
        "after_seq": after_seq,
        "limit": limit,
        "returned": len(page),
    }
    return JSONResponse({"events": page, "next_after_seq": next_after, "has_more": has_more})

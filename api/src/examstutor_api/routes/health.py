"""``/health/live``, ``/health/ready`` and ``/metrics``: for probes and Prometheus."""

from __future__ import annotations

import asyncio

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import JSONResponse, raw

from examstutor_api.metrics import CONTENT_TYPE
from examstutor_platform.db.migrate import pending

__all__ = ["health"]

health = Blueprint("health")
_READY_TIMEOUT = 2.0
# the API role holds INSERT on audit_events' columns, not on the table
_MAY_AUDIT = "SELECT has_any_column_privilege('audit_events', 'INSERT')"


@health.get("/health/live")
async def live(request: Request) -> HTTPResponse:
    """200 while the process serves requests."""
    return JSONResponse({"status": "live"})


@health.get("/health/ready")
async def ready(request: Request) -> HTTPResponse:
    """200 when the database answers, the migrations are current and this process may
    append to the audit log (every personal-data route needs it), else 503."""
    try:
        async with asyncio.timeout(_READY_TIMEOUT):
            async with request.app.ctx.pool.acquire() as conn:
                missing = await pending(conn)
                may_audit = await conn.fetchval(_MAY_AUDIT)
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    if missing:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "ok",
                "pending_migrations": [m.name for m in missing],
            },
            status=503,
        )
    if not may_audit:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "audit_log": "not writable"},
            status=503,
        )
    if not request.app.ctx.writer.running:
        return JSONResponse({"status": "unavailable", "audit_writer": "stopped"}, status=503)
    return JSONResponse({"status": "ready", "database": "ok", "migrations": "current"})


@health.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus text exposition of this worker's metrics."""
    ctx = request.app.ctx
    return raw(ctx.metrics.render(ctx.writer.queue_depth), content_type=CONTENT_TYPE)

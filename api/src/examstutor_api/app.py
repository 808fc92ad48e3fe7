"""The Sanic application factory.

Run it as ``sanic examstutor_api.app:create_app --factory`` (``make run`` does).
Each worker opens its own pool, audit writer and key ring in
``before_server_start`` and closes them in ``after_server_stop``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import Any

import asyncpg
from sanic import HTTPResponse, Request, Sanic
from sanic.exceptions import RequestCancelled
from sanic.handlers import ErrorHandler
from sanic.response import BaseHTTPResponse, JSONResponse
from sanic_ext import Extend

from examstutor_api.auditing import store_audit_event
from examstutor_api.auth.tokens import TokenIssuer
from examstutor_api.config import ApiConfig
from examstutor_api.context import AppContext
from examstutor_api.errors import ApiError, error_body
from examstutor_api.routes import api_v1, health
from examstutor_platform.audit.writer import AuditWriter
from examstutor_platform.db.location import resolve_url
from examstutor_platform.db.pool import create_pool, init_connection
from examstutor_platform.errors import PlatformError
from examstutor_platform.settings import Settings

__all__ = ["ExamsTutorApi", "create_app"]

ExamsTutorApi = Sanic[ApiConfig, AppContext]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_log = logging.getLogger("examstutor_api")
_DATABASE_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
)
_SANIC_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    503: "service_unavailable",
}


class JsonErrorHandler(ErrorHandler):
    """Every error as ``{"error": {"code", "message", "request_id"}}``; no internals leak."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        request_id = getattr(request.ctx, "request_id", None) or uuid.uuid4().hex
        field = None
        if isinstance(exception, RequestCancelled):
            # the client went away: nothing to log at length, nobody to answer
            status, code, message = 499, "client_closed_request", "the client closed the request"
        elif isinstance(exception, ApiError):
            status, code, message = exception.status_code, exception.error_code, str(exception)
            field = exception.field
        elif isinstance(exception, _DATABASE_DOWN):
            status, code = 503, "database_unavailable"
            message = "the database is unavailable; try again shortly"
        elif isinstance(exception, asyncpg.PostgresError | PlatformError):
            _log.error("request %s failed: %s", request_id, type(exception).__name__)
            status, code = 503, "service_unavailable"
            message = "the service cannot complete this request right now"
        elif hasattr(exception, "status_code") and isinstance(exception.status_code, int):
            status = exception.status_code
            code = _SANIC_CODES.get(status, "http_error")
            message = str(exception) or code.replace("_", " ")
            if status == 413:
                message = "the request body is larger than the limit"
        else:
            _log.exception("unhandled error in request %s", request_id)
            status, code, message = 500, "internal_error", "an internal error occurred"
        response = JSONResponse(error_body(code, message, request_id, field), status=status)
        extra_headers = getattr(exception, "headers", None)
        if isinstance(extra_headers, dict):
            response.headers.update(extra_headers)
        response.headers["X-Request-ID"] = request_id
        if status == 503:
            response.headers["Retry-After"] = "5"
        return response


def _settings_and_url(config: dict[str, Any] | None) -> tuple[Settings, str, dict[str, Any]]:
    overrides = dict(config or {})
    settings = overrides.pop("SETTINGS", None) or Settings.from_env()
    url = overrides.pop("DATABASE_URL", None) or resolve_url(settings)
    return settings, url, overrides


def create_app(config: dict[str, Any] | None = None, name: str = "examstutor_api") -> ExamsTutorApi:
    """Build the API. ``config`` overrides settings (``SETTINGS``, ``DATABASE_URL``,
    ``DB_ROLE``, limits…); unset, everything comes from the environment."""
    settings, url, overrides = _settings_and_url(config)
    api_config = ApiConfig(settings, url, **overrides)
    ctx = AppContext.build(settings, api_config.PASSWORD_HASH_CONCURRENCY)
    ctx.tokens = TokenIssuer(settings.jwt_secret, api_config.ACCESS_TOKEN_TTL)
    app: ExamsTutorApi = Sanic(name, config=api_config, ctx=ctx, error_handler=JsonErrorHandler())
    Extend(app)
    app.ext.openapi.describe(
        "ExamsTutor API",
        version="1.0.0",
        description="Student accounts, exam practice and data-subject rights; every access "
        "to personal data is audited before it is answered.",
    )
    app.ext.openapi.add_security_scheme("bearer", "http", scheme="bearer", bearer_format="JWT")
    app.blueprint(health)
    app.blueprint(api_v1)
    app.register_listener(_open, "before_server_start")
    app.register_listener(_close, "after_server_stop")
    app.register_middleware(_begin, "request")
    app.register_middleware(_finish, "response")
    app.register_middleware(store_audit_event, "response")
    return app


async def _open(app: ExamsTutorApi) -> None:
    ctx, config = app.ctx, app.config
    server_settings = {"role": config.DB_ROLE} if config.DB_ROLE else None
    ctx._pool = await create_pool(
        config.DATABASE_URL,
        min_size=config.DB_POOL_MIN,
        max_size=config.DB_POOL_MAX,
        server_settings=server_settings,
    )
    writer_pool = await asyncpg.create_pool(
        config.DATABASE_URL,
        min_size=2,
        max_size=2,
        init=init_connection,
        server_settings=server_settings,
    )
    ctx.writer_pool = writer_pool
    ctx._writer = AuditWriter(
        writer_pool,
        max_queue=config.AUDIT_MAX_QUEUE,
        flushers=config.AUDIT_FLUSHERS,
        linger=config.AUDIT_LINGER_SECONDS,
        on_flush=ctx.metrics.observe_flush,
    )
    await ctx._writer.start()
    await ctx.load_keyring()
    ctx.tasks.append(asyncio.create_task(_refresh_keyring(app), name="keyring-refresh"))


async def _refresh_keyring(app: ExamsTutorApi) -> None:
    while True:
        await asyncio.sleep(app.config.KEYRING_REFRESH_SECONDS)
        try:
            await app.ctx.load_keyring()
        except Exception:  # the database may be down; keep the ring we have
            _log.warning("could not refresh the key ring; keeping the current one")


async def _close(app: ExamsTutorApi) -> None:
    ctx = app.ctx
    for task in ctx.tasks:
        task.cancel()
    for task in ctx.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if ctx._writer is not None:
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(10):
                await ctx._writer.close()
    for pool in (getattr(ctx, "writer_pool", None), ctx._pool):
        if pool is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(10):
                    await pool.close()


async def _begin(request: Request) -> None:
    incoming = request.headers.get("x-request-id", "")
    request.ctx.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request.ctx.started = time.perf_counter()
    request.ctx.audit = None
    request.ctx.principal = None


async def _finish(request: Request, response: BaseHTTPResponse) -> None:
    request_id = getattr(request.ctx, "request_id", None) or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    started = getattr(request.ctx, "started", None)
    route = request.route.name if request.route else "unmatched"
    metrics = request.app.ctx.metrics
    metrics.requests.labels(request.method, route, str(response.status)).inc()
    if started is not None:
        metrics.latency.labels(route).observe(time.perf_counter() - started)

"""Every access to personal data leaves exactly one audit event, stored before the answer.

A route that touches personal data (or any staff action) is decorated with
:func:`audited`. The handler may refine the event through :func:`audit_spec`
(resource id, details, a more precise action). The response middleware
:func:`store_audit_event` then writes ONE event per request through the
group-commit writer and awaits its durability; the outcome follows the status
(2xx success, 401/403 denied, other 4xx failure, 5xx error). If the event
cannot be stored the response is replaced by a 503 that carries no personal
data: the API fails closed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy
from sanic import HTTPResponse, Request
from sanic.response import BaseHTTPResponse, JSONResponse

from examstutor_api.errors import ServiceUnavailable, error_body
from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.errors import AuditWriteError
from examstutor_platform.masking import get_strategy

__all__ = [
    "AuditSpec",
    "audit_spec",
    "audited",
    "audited_transaction",
    "client_ip_prefix",
    "store_audit_event",
]

P = ParamSpec("P")
R = TypeVar("R")
_truncate = get_strategy("truncate_ip")
_log = logging.getLogger(__name__)


@dataclass
class AuditSpec:
    """The event a request will leave; handlers fill in what they learn."""

    action: str
    resource: str
    resource_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    severity: str = "low"
    actor_pseudonym: str | None = None
    actor_role: str | None = None
    #: set once the event is stored (before a write's COMMIT): the middleware skips it
    stored: bool = False


def audited(
    action: str, resource: str
) -> Callable[[Callable[..., Awaitable[R]]], Callable[..., Awaitable[R]]]:
    """Mark a route as touching personal data: one audit event per request."""

    def decorate(handler: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> R:
            request.ctx.audit = AuditSpec(action, resource)
            return await handler(request, *args, **kwargs)

        return wrapper

    return decorate


def audit_spec(request: Request) -> AuditSpec:
    """The audit event this request will leave (the route must be :func:`audited`)."""
    spec: AuditSpec = request.ctx.audit
    return spec


def client_ip_prefix(request: Request) -> str | None:
    """The caller's address truncated to /24 (IPv4) or /48 (IPv6)."""
    address = request.remote_addr or request.ip
    return _prefix_of(address) if address else None


@functools.lru_cache(maxsize=4096)
def _prefix_of(address: str) -> str | None:
    try:
        prefix: str = _truncate.mask(address)  # type: ignore[assignment]
    except Exception:  # an address the strategy cannot parse (a unix socket, say)
        return None
    return prefix


def _raise_to_medium(severity: str) -> str:
    return "medium" if severity == "low" else severity


def _outcome(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status < 500:
        return "failure"
    return "error"


def _event(request: Request, spec: AuditSpec, status: int) -> AuditEvent:
    principal = getattr(request.ctx, "principal", None)
    outcome = _outcome(status)
    details = {**spec.details, "status": status}
    if request.route:
        details["route"] = request.route.name
    return AuditEvent(
        actor_pseudonym=spec.actor_pseudonym
        or (principal.pseudonym if principal is not None else "anonymous"),
        actor_role=spec.actor_role or (principal.role if principal is not None else "anonymous"),
        action=spec.action,
        resource=spec.resource,
        resource_id=spec.resource_id,
        outcome=outcome,
        severity=_raise_to_medium(spec.severity) if outcome == "denied" else spec.severity,
        ip_prefix=client_ip_prefix(request),
        request_id=request.ctx.request_id,
        details=details,
    )


async def _write(request: Request, event: AuditEvent) -> bool:
    """Store ``event``; False (and counted) when it cannot be stored."""
    ctx = request.app.ctx
    try:
        await ctx.writer.write(event)
    except Exception as exc:  # AuditWriteError, or anything else: fail closed
        if not isinstance(exc, AuditWriteError):
            _log.exception("audit event could not be built or written")
        ctx.metrics.audit_failures.inc()
        return False
    return True


@contextlib.asynccontextmanager
async def audited_transaction(
    request: Request, status: int = 200
) -> AsyncIterator[PoolConnectionProxy[Record]]:
    """A connection in a transaction whose COMMIT waits for the request's audit event.

    Write routes use it instead of ``pool.acquire()`` + ``transaction()``: when
    the body ends normally, the (successful) event is stored first; if it cannot
    be, the transaction rolls back and the request fails with 503, so no write
    is ever committed without its event. (The converse — an event stored for a
    write whose COMMIT then fails — over-reports, never under-reports.) ``status``
    is the success status the route answers with, recorded in the event."""
    async with request.app.ctx.pool.acquire() as conn, conn.transaction():
        yield conn
        spec: AuditSpec | None = getattr(request.ctx, "audit", None)
        if spec is not None and not spec.stored:
            if not await _write(request, _event(request, spec, status)):
                request.ctx.audit = None
                raise ServiceUnavailable(
                    "the audit log cannot record this request right now; nothing was changed",
                    code="audit_unavailable",
                )
            spec.stored = True


async def store_audit_event(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
    """Response middleware: store the request's event; 503 without data if that fails."""
    spec: AuditSpec | None = getattr(request.ctx, "audit", None)
    if spec is None or spec.stored:
        return None
    if await _write(request, _event(request, spec, response.status)):
        return None
    request.ctx.audit = None
    failed = JSONResponse(
        error_body(
            "audit_unavailable",
            "the audit log cannot record this request right now; nothing was returned",
            request.ctx.request_id,
        ),
        status=503,
    )
    failed.headers["X-Request-ID"] = request.ctx.request_id
    failed.headers["Retry-After"] = "5"
    return failed

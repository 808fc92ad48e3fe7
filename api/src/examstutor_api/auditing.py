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

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from sanic import HTTPResponse, Request
from sanic.response import BaseHTTPResponse, JSONResponse

from examstutor_api.errors import error_body
from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.errors import AuditWriteError
from examstutor_platform.masking import get_strategy

__all__ = ["AuditSpec", "audit_spec", "audited", "client_ip_prefix", "store_audit_event"]

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


async def store_audit_event(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
    """Response middleware: store the request's event; 503 without data if that fails."""
    spec: AuditSpec | None = getattr(request.ctx, "audit", None)
    if spec is None:
        return None
    principal = getattr(request.ctx, "principal", None)
    outcome = _outcome(response.status)
    event = AuditEvent(
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
        details={**spec.details, "status": response.status, "route": request.route.name}
        if request.route
        else {**spec.details, "status": response.status},
    )
    ctx = request.app.ctx
    try:
        await ctx.writer.write(event)
    except Exception as exc:  # AuditWriteError, or anything else: fail closed
        if not isinstance(exc, AuditWriteError):
            _log.exception("audit event could not be built or written")
        ctx.metrics.audit_failures.inc()
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
    return None

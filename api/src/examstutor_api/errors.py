"""HTTP errors of the API and the one JSON shape every error takes.

Every error answers ``{"error": {"code", "message", "request_id"}}`` with a
stable snake_case ``code``. Core errors (``examstutor_platform.errors``) are
translated here, at the edge::

    ApiError (SanicException)
    ├── BadRequest            400 malformed_json / bad_request
    ├── Unauthorized          401 unauthorized / invalid_credentials / token_*
    ├── Forbidden             403 forbidden
    ├── NotFound              404 not_found
    ├── Conflict              409 conflict
    ├── PayloadTooLarge       413 payload_too_large
    ├── UnsupportedMediaType  415 unsupported_media_type
    ├── Unprocessable         422 invalid_field (names the field)
    ├── TooManyRequests       429 rate_limited
    └── ServiceUnavailable    503 audit_unavailable / database_unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar

from sanic.exceptions import SanicException

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "UnsupportedMediaType",
    "error_body",
]


class ApiError(SanicException):
    """Base of the API's errors: a status, a stable code and a message for people."""

    status_code = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message, status_code=self.status_code)
        self.error_code = code or self.code
        self.field = field
        self.extra = extra


class BadRequest(ApiError):
    """The request could not be parsed."""

    status_code = 400
    code = "bad_request"


class Unauthorized(ApiError):
    """No valid credentials or token."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """Authenticated, but this role or account may not do that."""

    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such resource (or not yours: the API never tells which)."""

    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    """The request conflicts with the current state (e.g. the email is taken)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The body is over the limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """The body is not ``application/json``."""

    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(ApiError):
    """A field is missing, unknown or invalid; the message names it."""

    status_code = 422
    code = "invalid_field"


class TooManyRequests(ApiError):
    """Too many attempts; try again later."""

    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(ApiError):
    """A dependency is down: the audit log or the database. Fail closed."""

    status_code = 503
    code = "service_unavailable"


def error_body(
    code: str, message: str, request_id: str, field: str | None = None
) -> dict[str, Any]:
    """The JSON body of an error response."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if field is not None:
        error["field"] = field
    return {"error": error}

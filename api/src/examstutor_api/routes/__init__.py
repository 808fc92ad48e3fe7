"""The API's blueprints: health and operations, then ``/v1`` grouped by area."""

from __future__ import annotations

from sanic import Blueprint

from examstutor_api.routes import auditor, auth_routes, me, practice, questions, staff, steward
from examstutor_api.routes.health import health

__all__ = ["api_v1", "health"]

api_v1 = Blueprint.group(
    auth_routes.bp,
    me.bp,
    questions.bp,
    practice.bp,
    auditor.bp,
    steward.bp,
    staff.bp,
    version=1,
)

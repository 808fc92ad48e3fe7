"""``/v1/me``: a student's own data. Every route is for the ``student`` role and
reaches only the caller's rows; each request leaves exactly one audit event.

* :mod:`~examstutor_api.routes.me_profile` — profile read and rectification, password;
* :mod:`~examstutor_api.routes.me_rights` — export, erasure request, requests, consents.
"""

from __future__ import annotations

from sanic import Blueprint

from examstutor_api.routes import me_profile, me_rights

__all__ = ["bp"]

bp = Blueprint.group(me_profile.bp, me_rights.bp, url_prefix="/me")

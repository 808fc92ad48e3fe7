"""Routes: staff (being built)."""

from __future__ import annotations

from sanic import Blueprint

__all__ = ["bp"]

bp = Blueprint("staff", url_prefix="/staff")

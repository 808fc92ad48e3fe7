"""Routes: practice (being built)."""

from __future__ import annotations

from sanic import Blueprint

__all__ = ["bp"]

bp = Blueprint("practice", url_prefix="/practice")
